"""PostGIS: each current-state table gets ``geom_pg``, a ``geometry(Geometry, 4326)`` column
generated from its WKB ``geom``, with a GiST index; spatial filters, areas and vector tiles run
on it in SQL. Nothing changes on SQLite (its R*Trees came with the tables).

The WKB column stays the one the code reads and writes: the exact bytes that versions compare
and history returns. PostgreSQL keeps the generated column in step on every insert and update.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: the tables of current state that hold a geometry (``storage.schema.CURRENT_TABLES``)
GEOMETRY_TABLES = (
    "hazard_areas",
    "admin_areas",
    "outcomes",
    "activities",
    "devices",
    "minefield_records",
    "markers",
    "inspections",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # PostGIS is not a trusted extension: a database whose owner may not create it needs a
    # superuser to run ``CREATE EXTENSION postgis`` in it first (docs/server.md)
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    for table in GEOMETRY_TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN geom_pg geometry(Geometry, 4326) "
            "GENERATED ALWAYS AS (ST_GeomFromWKB(geom, 4326)) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_geom_pg ON {table} USING gist (geom_pg)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in GEOMETRY_TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN geom_pg")
