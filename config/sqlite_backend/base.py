"""Django's SQLite backend, reporting the library's real limit on bound parameters.

Django assumes SQLite's historical default of 999 variables per statement, so ``bulk_create``
and ``bulk_update`` of 1,000 rows split into several statements on SQLite but are one statement
on PostgreSQL. Imports are pinned by tests to a constant number of queries; reporting the real
limit (32,766 since SQLite 3.32, often more) makes SQLite batch like PostgreSQL.
"""

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.backends.sqlite3 import base, features, operations
from django.db.models import CompositePrimaryKey


def variable_number_limit() -> int:
    """SQLITE_LIMIT_VARIABLE_NUMBER of the linked SQLite library (a compile-time setting)."""
    probe = sqlite3.connect(":memory:")
    try:
        return probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        probe.close()


class DatabaseFeatures(features.DatabaseFeatures):
    # The same for every connection of this process, so read once, when the backend loads.
    max_query_params = variable_number_limit()


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields: Sequence[Any], objs: Iterable[Any]) -> int:
        # Django caps one-column batches at 500 (SQLITE_MAX_COMPOUND_SELECT), a limit that
        # multi-row VALUES lists stopped being subject to in SQLite 3.8.8 (Django needs 3.31).
        columns = sum(
            len(field.fields) if isinstance(field, CompositePrimaryKey) else 1 for field in fields
        )
        limit = self.connection.features.max_query_params
        if columns == 1 and limit:
            return limit
        return super().bulk_batch_size(fields, objs)


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations
