"""A page and its total from one query: the release list's pagination."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from django.core.paginator import Page
from django.db import connections
from django.db.models import Count, QuerySet, Window
from django.db.models.utils import create_namedtuple_class
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

#: The name of the window column holding the number of rows of the whole (filtered) list.
TOTAL = "page_total"


class CountedPageNumberPagination(PageNumberPagination):
    """DRF's page-number pagination (same parameters, same response), with the total counted
    by a window function in the page's own query instead of a ``COUNT(*)`` before it.

    The queryset must carry the total as :data:`TOTAL` (:func:`with_total`, before any
    ``values_list``); one that does not, a page number past the end (no rows) and anything
    that is not a plain number fall back to DRF's own pagination (and its 404).
    """

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None
    ) -> list[Any] | None:
        size = self.get_page_size(request)
        text = request.query_params.get(self.page_query_param) or "1"
        counted = isinstance(queryset, QuerySet) and TOTAL in queryset.query.annotations
        if not size or not counted or not text.isdigit() or int(text) < 1:
            return super().paginate_queryset(queryset, request, view)
        number = int(text)
        start = (number - 1) * size
        rows = page_rows(queryset[start : start + size], getattr(view, "page_sql_key", None))
        if not rows and number > 1:
            return super().paginate_queryset(queryset, request, view)  # its 404
        total = _total(rows[0]) if rows else 0
        paginator = self.django_paginator_class(queryset, size)
        paginator.count = total  # a cached_property: no COUNT(*) query
        self.request = request
        self.page = Page(rows, number, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return rows


def with_total(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """``queryset`` with each row carrying the number of rows of the whole queryset."""
    counted: QuerySet[Any] = queryset.annotate(**{TOTAL: Window(Count("pk"))})
    return counted


def _total(row: Any) -> int:
    if isinstance(row, dict):
        return int(row[TOTAL])
    return int(getattr(row, TOTAL))


#: The SQL of page queries, compiled once per database, key and slice: for a cached list page
#: the ORM's building and compiling of its query was a third of the request. Bounded: emptied
#: when it holds :data:`MAX_COMPILED` entries.
_compiled: dict[tuple[str, Hashable, int | None, int | None], tuple[Any, ...]] = {}
MAX_COMPILED = 256


def page_rows(queryset: QuerySet[Any, Any], key: Hashable | None) -> list[Any]:
    """``list(queryset)`` for a sliced ``values_list(..., named=True)`` queryset; with a
    ``key`` (which the caller promises determines the query, apart from the slice) its SQL is
    compiled once and reused, its rows converted as the ORM converts them. A query whose
    columns are not its fields, in order, is read through the ORM."""
    if key is None:
        return list(queryset)
    query = queryset.query
    cache_key = (queryset.db, key, query.low_mark, query.high_mark)
    entry = _compiled.get(cache_key)
    if entry is None:
        compiler = query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        select = compiler.select[: compiler.col_count]
        names = [alias for _column, _sql, alias in select]
        if names != list(queryset._fields):  # type: ignore[attr-defined]
            return list(queryset)
        converters = compiler.get_converters([column for column, _sql, _alias in select])
        if len(_compiled) >= MAX_COMPILED:
            _compiled.clear()
        entry = _compiled[cache_key] = (sql, params, create_namedtuple_class(*names), converters)
    sql, params, row, converters = entry
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = cursor.fetchall()
    rows = []
    for value in values:
        if converters:  # as SQLCompiler.apply_converters
            value = list(value)
            for position, (functions, expression) in converters.items():
                for function in functions:
                    value[position] = function(value[position], expression, connection)
        rows.append(row(*value))
    return rows
