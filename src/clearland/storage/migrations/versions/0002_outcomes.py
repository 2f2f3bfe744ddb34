"""Land release: outcome records and the remaining geometry of hazard areas.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hazard_areas", sa.Column("remaining_geom", sa.LargeBinary))
    op.create_table(
        "outcomes",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hazard_ref", sa.String(64)),
        sa.Column("activity_type", sa.String(32)),
        sa.Column("organisation", sa.Text),
        sa.Column("source_id", sa.Text),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("date_of_information", sa.Date, nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *[sa.Column(name, sa.Float, nullable=False) for name in ("minx", "miny", "maxx", "maxy")],
    )
    op.create_index("ix_outcomes_hazard_ref", "outcomes", ["hazard_ref"])
    op.create_index("ix_outcomes_source_id", "outcomes", ["source_id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE outcomes_rtree USING rtree(id, minx, maxx, miny, maxy)")
        op.execute(
            "CREATE TRIGGER outcomes_rtree_upd AFTER UPDATE OF minx, miny, maxx, maxy ON outcomes "
            "BEGIN UPDATE outcomes_rtree SET minx = NEW.minx, maxx = NEW.maxx, miny = NEW.miny, "
            "maxy = NEW.maxy WHERE id = NEW.record_id; END"
        )
        op.execute(
            "CREATE TRIGGER outcomes_rtree_del AFTER DELETE ON outcomes "
            "BEGIN DELETE FROM outcomes_rtree WHERE id = OLD.record_id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS outcomes_rtree")
    op.drop_table("outcomes")
    with op.batch_alter_table("hazard_areas") as batch:
        batch.drop_column("remaining_geom")
