"""Tables. Geometry is WKB in EPSG:4326 with its bounding box in four columns; the spatial
index over that box is the dialect's business (an R*Tree on SQLite, GiST on PostGIS)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("roles", Text, nullable=False),  # ";"-joined Role values
    Column("created_at", DateTime, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("created_by", ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("decided_by", ForeignKey("users.id")),
    Column("decided_at", DateTime),
    Column("reason", Text),
    # the order approvals happened in; ties between equal dates of information
    Column("approval_seq", Integer, unique=True),
    Column("source_name", Text),
    Column("source_sha256", String(64)),
    Column("summary", JSON),
    Index("ix_reports_status", "status"),
)

records = Table(
    "records",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("ref", String(64), nullable=False),
    # bumped on every change of the current state; a write against a stale one is a conflict
    Column("row_version", Integer, nullable=False),
    UniqueConstraint("kind", "ref", name="uq_records_kind_ref"),
)

report_changes = Table(
    "report_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("report_id", ForeignKey("reports.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("record_id", ForeignKey("records.id")),  # set on approval
    Column("values", JSON, nullable=False),
    Column("geom", LargeBinary),  # WKB EPSG:4326 when the report sets the geometry
    # the geometry is not copied into ``geom`` but is that of the record's current row: the change
    # created the record and is all it holds yet (an import of new records writes its geometry
    # once); copied into ``geom`` before that row changes or goes
    Column("geom_in_current", Boolean, nullable=False, server_default=false()),
    Index("ix_report_changes_report", "report_id"),
    Index("ix_report_changes_record", "record_id"),
    Index("ix_report_changes_kind_ref", "kind", "ref"),
)


def _bbox_columns() -> list[Column[float]]:
    return [Column(name, Float, nullable=False) for name in ("minx", "miny", "maxx", "maxy")]


hazard_areas = Table(
    "hazard_areas",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("name", Text),
    Column("category", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("hazard_types", Text),
    Column("marking", String(16)),
    Column("admin_area", Text),
    Column("evidence_type", String(16)),
    Column("evidence_description", Text),
    Column("priority", String(16)),
    Column("blockage", Text),
    Column("estimated_area_m2", Float),
    Column("organisation", Text),
    Column("minefield_record_ref", String(64)),
    Column("source_id", Text),
    Column("area_m2", Float, nullable=False),
    Column("remaining_area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    # what is left once released outcomes are taken away; NULL while nothing is released
    Column("remaining_geom", LargeBinary),
    Column("parent_ref", String(64)),  # lineage: the SHA a CHA was split from
    Column("handed_over_on", String(10)),
    Index("ix_hazard_areas_source_id", "source_id"),
    Index("ix_hazard_areas_parent_ref", "parent_ref"),
    Index("ix_hazard_areas_status", "status"),
)

admin_areas = Table(
    "admin_areas",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("code", Text),
    Column("level", Integer),
    Column("source_id", Text),
    Column("area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    Index("ix_admin_areas_source_id", "source_id"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("hazard_ref", String(64)),
    Column("activity_type", String(32)),
    Column("organisation", Text),
    Column("source_id", Text),
    Column("area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    Column("activity_ref", String(64)),
    Index("ix_outcomes_hazard_ref", "hazard_ref"),
    Index("ix_outcomes_source_id", "source_id"),
    Index("ix_outcomes_activity_ref", "activity_ref"),
)

activities = Table(
    "activities",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("activity_type", String(32), nullable=False),
    Column("organisation", Text),
    Column("start_date", String(10)),
    Column("end_date", String(10)),
    Column("status", String(16), nullable=False),
    Column("hazard_refs", Text),  # ";"-joined refs
    Column("depth_cm", Integer),
    Column("assets", Text),
    Column("qc_passed", Boolean),
    Column("new_evidence", Text),
    Column("description", Text),
    Column("markers", JSON),
    Column("area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
)

devices = Table(
    "devices",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("category", String(16), nullable=False),
    Column("model", Text),
    Column("quantity", Integer, nullable=False),
    Column("depth_cm", Integer),
    Column("disposal", String(32), nullable=False),
    Column("activity_ref", String(64)),
    Column("hazard_ref", String(64)),
    Column("area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    Index("ix_devices_activity_ref", "activity_ref"),
    Index("ix_devices_hazard_ref", "hazard_ref"),
)

# minefield records, their markers and inspections (migration 0006); record details restricted
minefield_records = Table(
    "minefield_records",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("name", Text),
    Column("recording_unit", Text, nullable=False),
    Column("laid_from", String(32), nullable=False),
    Column("laid_to", String(32), nullable=False),
    Column("emplacing_method", String(32), nullable=False),
    Column("reference_points", JSON, nullable=False),
    Column("turning_points", JSON, nullable=False),
    Column("perimeter_source", String(16)),
    Column("mines", JSON, nullable=False),
    Column("items", JSON),
    Column("marking", String(16)),
    Column("description", Text),
    Column("hazard_ref", String(64)),
    Column("area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    Index("ix_minefield_records_hazard_ref", "hazard_ref"),
)

markers = Table(
    "markers",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("type", String(32), nullable=False),
    Column("condition", String(16), nullable=False),
    Column("hazard_ref", String(64)),
    Column("installed_on", String(10)),
    Column("last_inspected", String(10)),
    Column("description", Text),
    Column("minefield_ref", String(64)),
    Column("area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    Index("ix_markers_minefield_ref", "minefield_ref"),
    Index("ix_markers_hazard_ref", "hazard_ref"),
)

inspections = Table(
    "inspections",
    metadata,
    Column("record_id", ForeignKey("records.id"), primary_key=True),
    Column("ref", String(64), nullable=False, unique=True),
    Column("minefield_ref", String(64), nullable=False),
    Column("inspected_on", String(10), nullable=False),
    Column("inspector", Text, nullable=False),
    Column("condition", String(16), nullable=False),
    Column("missing_markers", Text),
    Column("damaged_markers", Text),
    Column("notes", Text),
    Column("area_m2", Float, nullable=False),
    Column("date_of_information", Date, nullable=False),
    Column("geom", LargeBinary, nullable=False),
    *_bbox_columns(),
    Index("ix_inspections_minefield_ref", "minefield_ref"),
)

CURRENT_TABLES = {
    "hazard_area": hazard_areas,
    "admin_area": admin_areas,
    "outcome": outcomes,
    "activity": activities,
    "device": devices,
    "minefield_record": minefield_records,
    "marker": markers,
    "inspection": inspections,
}
