"""`field__in_array=<subquery>`: IN (subquery) that PostgreSQL can OR with indexed conditions."""

from django.db.models import Field, Lookup


class InArray(Lookup):
    """`col = ANY(ARRAY(subquery))` on PostgreSQL, plain `col IN (subquery)` elsewhere.

    PostgreSQL runs the subquery once, as an init plan, and the condition becomes an index
    condition: ORed with other indexed conditions (title LIKE through a trigram index), one
    BitmapOr reads the matching rows once. `IN (subquery)` inside an OR is a hashed subplan
    tested row by row, so the database scans the whole table.
    """

    lookup_name = "in_array"

    def get_prep_lookup(self):
        return self.rhs

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)
        if rhs.startswith("(") and rhs.endswith(")"):
            rhs = rhs[1:-1]
        params = (*lhs_params, *rhs_params)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(ARRAY({rhs}))", params
        return f"{lhs} IN ({rhs})", params


def register() -> None:
    Field.register_lookup(InArray)
