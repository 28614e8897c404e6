"""``field__any_of=[...]``: membership in a list given as ONE parameter where the database
has arrays.

Values only (ids, strings), not model instances or querysets. ``field__in=[...]`` writes a
placeholder per value: for the hundreds of releases and runs a validation run reads and
writes, Django builds a lookup per value and psycopg splits and quotes the statement at each
of them, milliseconds of the process for every statement. On
PostgreSQL ``any_of`` is ``field = ANY(%s)`` with the list as one array (a ``None`` in it
left out, as ``__in`` does: it equals nothing); elsewhere it is ``__in`` exactly.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return list(self.rhs)

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return In(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler: Any, connection: Any) -> Any:
        lhs, params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [
            field.get_db_prep_value(value, connection, prepared=False)
            for value in self.rhs
            if value is not None
        ]
        return f"{lhs} = ANY(%s::{field.cast_db_type(connection)}[])", [*params, values]


# Related fields look their lookups up from ForeignObject down only.
Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)
