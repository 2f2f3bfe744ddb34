"""The hazard registry: users, reports, record versions, current hazard and admin areas.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BBOX = ("minx", "miny", "maxx", "maxy")


def _bbox() -> list[sa.Column[float]]:
    return [sa.Column(name, sa.Float, nullable=False) for name in BBOX]


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("roles", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("date_of_information", sa.Date, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("reason", sa.Text),
        sa.Column("approval_seq", sa.Integer, unique=True),
        sa.Column("source_name", sa.Text),
        sa.Column("source_sha256", sa.String(64)),
        sa.Column("summary", sa.JSON),
    )
    op.create_index("ix_reports_status", "reports", ["status"])
    op.create_table(
        "records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("row_version", sa.Integer, nullable=False),
        sa.UniqueConstraint("kind", "ref", name="uq_records_kind_ref"),
    )
    op.create_table(
        "report_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id")),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("geom", sa.LargeBinary),
    )
    op.create_index("ix_report_changes_report", "report_changes", ["report_id"])
    op.create_index("ix_report_changes_record", "report_changes", ["record_id"])
    op.create_index("ix_report_changes_kind_ref", "report_changes", ["kind", "ref"])
    op.create_table(
        "hazard_areas",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("hazard_types", sa.Text),
        sa.Column("marking", sa.String(16)),
        sa.Column("admin_area", sa.Text),
        sa.Column("evidence_type", sa.String(16)),
        sa.Column("evidence_description", sa.Text),
        sa.Column("priority", sa.String(16)),
        sa.Column("blockage", sa.Text),
        sa.Column("estimated_area_m2", sa.Float),
        sa.Column("organisation", sa.Text),
        sa.Column("minefield_record_ref", sa.String(64)),
        sa.Column("source_id", sa.Text),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("remaining_area_m2", sa.Float, nullable=False),
        sa.Column("date_of_information", sa.Date, nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *_bbox(),
    )
    op.create_index("ix_hazard_areas_source_id", "hazard_areas", ["source_id"])
    op.create_index("ix_hazard_areas_status", "hazard_areas", ["status"])
    op.create_table(
        "admin_areas",
        sa.Column("record_id", sa.Integer, sa.ForeignKey("records.id"), primary_key=True),
        sa.Column("ref", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("code", sa.Text),
        sa.Column("level", sa.Integer),
        sa.Column("source_id", sa.Text),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("date_of_information", sa.Date, nullable=False),
        sa.Column("geom", sa.LargeBinary, nullable=False),
        *_bbox(),
    )
    op.create_index("ix_admin_areas_source_id", "admin_areas", ["source_id"])
    if op.get_bind().dialect.name == "sqlite":
        for table in ("hazard_areas", "admin_areas"):
            _sqlite_rtree(table)


def _sqlite_rtree(table: str) -> None:
    """An R*Tree of bounding boxes. New rows are added to it by the SQLite dialect in bulk
    (``SQLiteDialect.index_boxes``); triggers keep it right when rows change or go."""
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
        for table in ("hazard_areas", "admin_areas"):
            op.execute(f"DROP TABLE IF EXISTS {table}_rtree")
    for table in (
        "admin_areas",
        "hazard_areas",
        "report_changes",
        "records",
        "reports",
        "users",
        "meta",
    ):
        op.drop_table(table)
