"""Record types and their fields: what a hazard area or an admin area holds, and how raw
values from a file or a form become typed values (or problems naming the field)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clearland.domain.vocab import (
    ActivityStatus,
    ActivityType,
    Asset,
    Blockage,
    DeviceCategory,
    Disposal,
    EmplacingMethod,
    EvidenceType,
    HazardCategory,
    HazardStatus,
    HazardType,
    MarkerCondition,
    MarkerType,
    Marking,
    OutcomeKind,
    Priority,
    RecordKind,
    Vocabulary,
)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # "str" | "int" | "float" | "bool" | "vocab" | "vocab_list" | "str_list" | "date" | "json"
    vocab: type[Vocabulary] | None = None
    required: bool = False
    default: Any = None
    public: bool = False
    description: str = ""

    def parse(self, raw: object) -> Any:
        """Typed value for ``raw``; ``None`` for empty; ``ValueError`` with a reason otherwise."""
        if raw is None or (isinstance(raw, float) and math.isnan(raw)):
            return None
        if isinstance(raw, str) and not raw.strip():
            return None
        if self.kind == "str":
            text = str(raw).strip()
            if isinstance(raw, float) and raw.is_integer():
                text = str(int(raw))
            return text
        if self.kind == "int":
            value = float(raw)  # type: ignore[arg-type]  # anything float() accepts, else ValueError
            if not value.is_integer():
                raise ValueError(f"{raw!r} is not a whole number")
            return int(value)
        if self.kind == "float":
            number = float(raw)  # type: ignore[arg-type]
            if not math.isfinite(number) or number < 0:
                raise ValueError(f"{raw!r} is not a finite number ≥ 0")
            return number
        if self.kind == "bool":
            return _parse_bool(raw)
        if self.kind == "str_list":
            items = raw if isinstance(raw, list | tuple) else _split_list(str(raw))
            return sorted({str(item).strip() for item in items if str(item).strip()}) or None
        if self.kind == "json":
            if not isinstance(raw, list | dict):
                raise ValueError(f"{raw!r} is not a list or an object")
            return raw
        if self.kind == "date":
            if isinstance(raw, dt.date):
                return raw.isoformat()[:10]
            return parse_date(str(raw)).isoformat()
        assert self.vocab is not None
        if self.kind == "vocab":
            return self.vocab.parse(raw).value
        items = raw if isinstance(raw, list | tuple) else _split_list(str(raw))
        values = [self.vocab.parse(item).value for item in items if str(item).strip()]
        return sorted(set(values)) or None


def _parse_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "yes", "y", "1", "passed", "pass"):
        return True
    if text in ("false", "no", "n", "0", "failed", "fail"):
        return False
    raise ValueError(f"{raw!r} is not yes or no")


def _split_list(text: str) -> list[str]:
    for sep in (";", ",", "|"):
        if sep in text:
            return text.split(sep)
    return [text]


def parse_date(text: str) -> dt.date:
    """ISO date (``2024-05-01``) or ``YYYY/MM/DD``; a datetime keeps its date part."""
    cleaned = text.strip().replace("/", "-")
    try:
        return dt.date.fromisoformat(cleaned[:10])
    except ValueError:
        raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD)") from None


@dataclass(frozen=True)
class RecordType:
    kind: RecordKind
    ref_prefix: str
    fields: tuple[FieldSpec, ...]
    #: geometry types allowed, and the extra ones allowed for a given category
    geometry_types: frozenset[str]

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    @property
    def public_fields(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields if spec.public)


HAZARD_AREA = RecordType(
    kind=RecordKind.HAZARD_AREA,
    ref_prefix="HA-",
    geometry_types=frozenset({"Polygon", "MultiPolygon"}),
    fields=(
        FieldSpec("ref", "str", public=True, description="human id, e.g. HA-000123"),
        FieldSpec("name", "str", public=True),
        FieldSpec(
            "category",
            "vocab",
            HazardCategory,
            required=True,
            public=True,
            description="indication · SHA · CHA",
        ),
        FieldSpec(
            "status",
            "vocab",
            HazardStatus,
            default=HazardStatus.OPEN.value,
            public=True,
            description="open · worked_on · closed",
        ),
        FieldSpec("hazard_types", "vocab_list", HazardType, public=True),
        FieldSpec("marking", "vocab", Marking, public=True, description="none · signs · fenced · both"),
        FieldSpec("admin_area", "str", public=True),
        FieldSpec("evidence_type", "vocab", EvidenceType),
        FieldSpec("evidence_description", "str"),
        FieldSpec("priority", "vocab", Priority),
        FieldSpec("blockage", "vocab_list", Blockage),
        FieldSpec("estimated_area_m2", "float", description="area estimated by the reporter, m²"),
        FieldSpec("organisation", "str"),
        FieldSpec("minefield_record_ref", "str", description="linked minefield record (restricted)"),
        FieldSpec("source_id", "str", description="the feature's id in the file it came from"),
        FieldSpec(
            "parent_ref",
            "str",
            public=True,
            description="the SHA this CHA was split from (set when a survey confirming it is approved)",
        ),
        FieldSpec(
            "handed_over_on", "date", public=True, description="date of the handover (set by approval)"
        ),
    ),
)

ADMIN_AREA = RecordType(
    kind=RecordKind.ADMIN_AREA,
    ref_prefix="ADM-",
    geometry_types=frozenset({"Polygon", "MultiPolygon"}),
    fields=(
        FieldSpec("ref", "str", public=True),
        FieldSpec("name", "str", required=True, public=True),
        FieldSpec("code", "str", public=True),
        FieldSpec("level", "int", public=True),
        FieldSpec("source_id", "str"),
    ),
)

OUTCOME = RecordType(
    kind=RecordKind.OUTCOME,
    ref_prefix="OUT-",
    geometry_types=frozenset({"Polygon", "MultiPolygon"}),
    fields=(
        FieldSpec("ref", "str", public=True),
        FieldSpec(
            "kind",
            "vocab",
            OutcomeKind,
            required=True,
            public=True,
            description="cancelled · reduced · cleared · confirmed",
        ),
        # set by matching the polygon to the hazard area it lies in, not read from a file
        FieldSpec("hazard_ref", "str", public=True, description="the hazard area this part belongs to"),
        FieldSpec("activity_type", "vocab", ActivityType, public=True),
        FieldSpec("organisation", "str"),
        FieldSpec("source_id", "str"),
        FieldSpec("activity_ref", "str", public=True, description="the activity that established it"),
    ),
)

ACTIVITY = RecordType(
    kind=RecordKind.ACTIVITY,
    ref_prefix="ACT-",
    # the land worked on: the union of its hazard areas when the report gives no worksite
    geometry_types=frozenset({"Polygon", "MultiPolygon", "Point", "MultiPoint", "GeometryCollection"}),
    fields=(
        FieldSpec("ref", "str", public=True),
        FieldSpec("activity_type", "vocab", ActivityType, required=True, public=True),
        FieldSpec("organisation", "str", public=True),
        FieldSpec("start_date", "date", public=True),
        FieldSpec("end_date", "date", public=True),
        FieldSpec("status", "vocab", ActivityStatus, default=ActivityStatus.COMPLETED.value, public=True),
        FieldSpec("hazard_refs", "str_list", public=True, description="hazard areas worked on"),
        FieldSpec("depth_cm", "int", public=True, description="depth of clearance, cm"),
        FieldSpec("assets", "vocab_list", Asset, public=True, description="manual · mechanical · dog"),
        FieldSpec("qc_passed", "bool", public=True, description="quality control result (QC only)"),
        FieldSpec("new_evidence", "str", description="new evidence of explosive ordnance reported"),
        FieldSpec("description", "str"),
        FieldSpec("markers", "json", public=True, description="permanent markers and signs placed"),
    ),
)

DEVICE = RecordType(
    kind=RecordKind.DEVICE,
    ref_prefix="DEV-",
    geometry_types=frozenset({"Point"}),
    fields=(
        FieldSpec("ref", "str", public=True),
        FieldSpec("category", "vocab", DeviceCategory, required=True, public=True),
        FieldSpec("model", "str", public=True, description="e.g. PMA-2; empty when not known"),
        FieldSpec("quantity", "int", required=True, public=True),
        FieldSpec("depth_cm", "int", public=True),
        FieldSpec("disposal", "vocab", Disposal, required=True, public=True),
        FieldSpec("activity_ref", "str", public=True),
        FieldSpec("hazard_ref", "str", public=True),
    ),
)

# A minefield record's details are restricted to records custodians (DOMAIN.md): no field is
# public, and the public sees only the CHA it creates (``hazard_ref``).
MINEFIELD_RECORD = RecordType(
    kind=RecordKind.MINEFIELD_RECORD,
    ref_prefix="MFR-",
    geometry_types=frozenset({"Polygon"}),
    fields=(
        FieldSpec("ref", "str", description="human id, e.g. MFR-000001"),
        FieldSpec("name", "str"),
        FieldSpec("recording_unit", "str", required=True, description="the unit that laid and recorded it"),
        FieldSpec("laid_from", "str", required=True, description="date and time laying began (ISO 8601)"),
        FieldSpec("laid_to", "str", required=True, description="date and time laying ended (ISO 8601)"),
        FieldSpec("emplacing_method", "vocab", EmplacingMethod, required=True),
        FieldSpec("reference_points", "json", required=True, description="id, lon, lat, description"),
        FieldSpec("turning_points", "json", required=True, description="perimeter vertices, placed"),
        FieldSpec("perimeter_source", "str", description="bearings · coordinates · polygon (as given)"),
        FieldSpec("mines", "json", required=True, description="type, category, quantity, fuze, periods"),
        FieldSpec("items", "json", description="recorded positions of single mines or rows"),
        FieldSpec("marking", "vocab", Marking),
        FieldSpec("description", "str"),
        FieldSpec("hazard_ref", "str", description="the CHA the record creates and updates"),
    ),
)

MARKER = RecordType(
    kind=RecordKind.MARKER,
    ref_prefix="MK-",
    geometry_types=frozenset({"Point", "LineString"}),  # a fence is a line
    fields=(
        FieldSpec("ref", "str", public=True),
        FieldSpec("type", "vocab", MarkerType, required=True, public=True, description="sign · fence · post"),
        FieldSpec("condition", "vocab", MarkerCondition, default=MarkerCondition.GOOD.value, public=True),
        FieldSpec("hazard_ref", "str", public=True, description="the hazard area it marks"),
        FieldSpec("installed_on", "date", public=True),
        FieldSpec("last_inspected", "date", public=True),
        FieldSpec("description", "str", public=True),
        FieldSpec("minefield_ref", "str", description="the minefield record it marks (restricted)"),
    ),
)

INSPECTION = RecordType(
    kind=RecordKind.INSPECTION,
    ref_prefix="INS-",
    geometry_types=frozenset({"Polygon"}),  # the perimeter inspected
    fields=(
        FieldSpec("ref", "str"),
        FieldSpec("minefield_ref", "str", required=True),
        FieldSpec("inspected_on", "date", required=True),
        FieldSpec("inspector", "str", required=True),
        FieldSpec("condition", "vocab", MarkerCondition, required=True, description="of the marking overall"),
        FieldSpec("missing_markers", "str_list", description="refs of markers found missing"),
        FieldSpec("damaged_markers", "str_list", description="refs of markers found damaged"),
        FieldSpec("notes", "str"),
    ),
)

RECORD_TYPES: dict[RecordKind, RecordType] = {
    RecordKind.HAZARD_AREA: HAZARD_AREA,
    RecordKind.ADMIN_AREA: ADMIN_AREA,
    RecordKind.OUTCOME: OUTCOME,
    RecordKind.ACTIVITY: ACTIVITY,
    RecordKind.DEVICE: DEVICE,
    RecordKind.MINEFIELD_RECORD: MINEFIELD_RECORD,
    RecordKind.MARKER: MARKER,
    RecordKind.INSPECTION: INSPECTION,
}

#: columns computed by clearland, present on every current record and in exports
DERIVED_FIELDS = ("area_m2", "date_of_information")


def allowed_geometry_types(record_type: RecordType, values: Mapping[str, Any]) -> frozenset[str]:
    """A point is allowed only for an indication (DOMAIN.md)."""
    if (
        record_type.kind is RecordKind.HAZARD_AREA
        and values.get("category") == HazardCategory.INDICATION.value
    ):
        return record_type.geometry_types | {"Point", "MultiPoint"}
    return record_type.geometry_types


def public_view(record_type: RecordType, state: Mapping[str, Any]) -> dict[str, Any]:
    keep = set(record_type.public_fields) | set(DERIVED_FIELDS) | {"remaining_area_m2"}
    return {key: value for key, value in state.items() if key in keep}
