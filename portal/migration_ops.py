"""Migration operations for what only PostgreSQL has (trigram indexes): SQLite skips them."""

from django.db import migrations


class PostgresOnlySQL(migrations.RunSQL):
    """RunSQL on PostgreSQL, nothing elsewhere: the embedded SQLite has no pg_trgm, and searches
    there scan (docs/benchmarks.md measures it)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def trigram_index(name: str, table: str, column: str, *, where: str = "") -> PostgresOnlySQL:
    """A GIN trigram index on UPPER(column), the expression Django's icontains compares on
    PostgreSQL, so `column__icontains=text` is served by it (pg_trgm: any term of 3+ letters)."""
    condition = f" WHERE {where}" if where else ""
    return PostgresOnlySQL(
        f'CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (UPPER("{column}"::text) '
        f"gin_trgm_ops){condition}",
        f"DROP INDEX IF EXISTS {name}",
    )


def trigram_extension() -> PostgresOnlySQL:
    """pg_trgm, created if missing and left in place when migrating back: both apps' indexes
    need it, and dropping it with one app's migration would fail on the other's."""
    return PostgresOnlySQL("CREATE EXTENSION IF NOT EXISTS pg_trgm", migrations.RunSQL.noop)
