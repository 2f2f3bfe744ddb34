"""Minefield records (Amended Protocol II), the markers on the ground and the inspections of
the marking.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BBOX = ("minx", "miny", "maxx", "maxy")
_TABLES = ("minefield_records", "markers", "inspections")


def _common() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("date_of_information", sa.Date, nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *[sa.Column(name, sa.Float, nullable=False) for name in _BBOX],
    ]


def upgrade() -> None:
    op.create_table(
        "minefield_records",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("recording_unit", sa.Text, nullable=False),
        sa.Column("laid_from", sa.String(32), nullable=False),
        sa.Column("laid_to", sa.String(32), nullable=False),
        sa.Column("emplacing_method", sa.String(32), nullable=False),
        sa.Column("reference_points", sa.JSON, nullable=False),
        sa.Column("turning_points", sa.JSON, nullable=False),
        sa.Column("perimeter_source", sa.String(16)),
        sa.Column("mines", sa.JSON, nullable=False),
        sa.Column("items", sa.JSON),
        sa.Column("marking", sa.String(16)),
        sa.Column("description", sa.Text),
        sa.Column("hazard_ref", sa.String(64)),
        *_common(),
    )
    op.create_index("ix_minefield_records_hazard_ref", "minefield_records", ["hazard_ref"])
    op.create_table(
        "markers",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("condition", sa.String(16), nullable=False),
        sa.Column("hazard_ref", sa.String(64)),
        sa.Column("installed_on", sa.String(10)),
        sa.Column("last_inspected", sa.String(10)),
        sa.Column("description", sa.Text),
        sa.Column("minefield_ref", sa.String(64)),
        *_common(),
    )
    op.create_index("ix_markers_minefield_ref", "markers", ["minefield_ref"])
    op.create_index("ix_markers_hazard_ref", "markers", ["hazard_ref"])
    op.create_table(
        "inspections",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("minefield_ref", sa.String(64), nullable=False),
        sa.Column("inspected_on", sa.String(10), nullable=False),
        sa.Column("inspector", sa.Text, nullable=False),
        sa.Column("condition", sa.String(16), nullable=False),
        sa.Column("missing_markers", sa.Text),
        sa.Column("damaged_markers", sa.Text),
        sa.Column("notes", sa.Text),
        *_common(),
    )
    op.create_index("ix_inspections_minefield_ref", "inspections", ["minefield_ref"])
    if op.get_bind().dialect.name == "sqlite":
        for table in _TABLES:
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
    # changes that point at a current geometry get their copy before the tables go
    for kind, table in (
        ("minefield_record", "minefield_records"),
        ("marker", "markers"),
        ("inspection", "inspections"),
    ):
        op.execute(
            f"UPDATE report_changes SET geom = (SELECT c.geom FROM {table} AS c "
            "WHERE c.record_id = report_changes.record_id), geom_in_current = false "
            f"WHERE geom_in_current AND kind = '{kind}'"
        )
    for table in _TABLES:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"DROP TABLE IF EXISTS {table}_rtree")
        op.drop_table(table)
