"""Activities and devices; lineage (parent_ref) and handover date of hazard areas; the activity
that established an outcome.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BBOX = ("minx", "miny", "maxx", "maxy")


def upgrade() -> None:
    # plain ALTER TABLE ADD COLUMN: a batch (table copy) would drop the R*Tree triggers
    op.add_column("hazard_areas", sa.Column("parent_ref", sa.String(64)))
    op.add_column("hazard_areas", sa.Column("handed_over_on", sa.String(10)))
    op.create_index("ix_hazard_areas_parent_ref", "hazard_areas", ["parent_ref"])
    op.add_column("outcomes", sa.Column("activity_ref", sa.String(64)))
    op.create_index("ix_outcomes_activity_ref", "outcomes", ["activity_ref"])
    op.create_table(
        "activities",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("activity_type", sa.String(32), nullable=False),
        sa.Column("organisation", sa.Text),
        sa.Column("start_date", sa.String(10)),
        sa.Column("end_date", sa.String(10)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hazard_refs", sa.Text),
        sa.Column("depth_cm", sa.Integer),
        sa.Column("assets", sa.Text),
        sa.Column("qc_passed", sa.Boolean),
        sa.Column("new_evidence", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("markers", sa.JSON),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("date_of_information", sa.Date, nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *[sa.Column(name, sa.Float, nullable=False) for name in _BBOX],
    )
    op.create_table(
        "devices",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("model", sa.Text),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("depth_cm", sa.Integer),
        sa.Column("disposal", sa.String(32), nullable=False),
        sa.Column("activity_ref", sa.String(64)),
        sa.Column("hazard_ref", sa.String(64)),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("date_of_information", sa.Date, nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *[sa.Column(name, sa.Float, nullable=False) for name in _BBOX],
    )
    op.create_index("ix_devices_activity_ref", "devices", ["activity_ref"])
    op.create_index("ix_devices_hazard_ref", "devices", ["hazard_ref"])
    if op.get_bind().dialect.name == "sqlite":
        for table in ("activities", "devices"):
            op.execute(f"CREATE VIRTUAL TABLE {table}_rtree USING rtree(id, minx, maxx, miny, maxy)")
            op.execute(
                f"CREATE TRIGGER {table}_rtree_upd AFTER UPDATE OF minx, miny, maxx, maxy ON {table} "
                f"BEGIN UPDATE {table}_rtree SET minx = NEW.minx, maxx = NEW.maxx, miny = NEW.miny, "
                f"maxy = NEW.maxy WHERE id = NEW.record_id; END"
            )
            op.execute(
                f"CREATE TRIGGER {table}_rtree_del AFTER DELETE ON {table} "
                f"BEGIN DELETE FROM {table}_rtree WHERE id = OLD.record_id; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS devices_rtree")
        op.execute("DROP TABLE IF EXISTS activities_rtree")
    op.drop_table("devices")
    op.drop_table("activities")
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_index("ix_outcomes_activity_ref")
        batch.drop_column("activity_ref")
    with op.batch_alter_table("hazard_areas") as batch:
        batch.drop_index("ix_hazard_areas_parent_ref")
        batch.drop_column("handed_over_on")
        batch.drop_column("parent_ref")
