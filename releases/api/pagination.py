"""A page and its total from one query: the release list's pagination."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.db.models import Count, QuerySet, Window
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
        rows = list(queryset[start : start + size])
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
