"""Controlled vocabularies (IMAS 04.10 terms). Values are the stored and exported spellings."""

from __future__ import annotations

import enum
import functools
import re


class Vocabulary(enum.StrEnum):
    """A closed list of values; ``parse`` accepts the value, the label and common spellings."""

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {}

    @classmethod
    def parse(cls, text: object) -> Vocabulary:
        return _parse(cls, str(text))


@functools.lru_cache(maxsize=4096)
def _parse(cls: type[Vocabulary], text: str) -> Vocabulary:
    """Cached: an import sees the same few spellings hundreds of thousands of times."""
    key = _normalise(text)
    for member in cls:
        if key in (_normalise(member.value), _normalise(member.name)):
            return member
    alias = cls.aliases().get(key)
    if alias is not None:
        return cls(alias)
    raise ValueError(f"{text!r} is not one of: {', '.join(m.value for m in cls)}")


def _normalise(text: str) -> str:
    return re.sub(r"[\s_\-/]+", "", text.strip().lower())


class HazardCategory(Vocabulary):
    INDICATION = "indication"
    SHA = "SHA"
    CHA = "CHA"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "suspectedhazardousarea": "SHA",
            "confirmedhazardousarea": "CHA",
            "dangerousarea": "indication",
        }


class HazardStatus(Vocabulary):
    OPEN = "open"
    WORKED_ON = "worked_on"
    CLOSED = "closed"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"active": "open", "inprogress": "worked_on", "ongoing": "worked_on"}


class HazardType(Vocabulary):
    AP_MINE = "ap_mine"
    AT_MINE = "at_mine"
    UXO = "uxo"
    AXO = "axo"
    CLUSTER_MUNITION = "cluster_munition"
    IED = "ied"
    BOOBY_TRAP = "booby_trap"
    OTHER = "other"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "antipersonnelmine": "ap_mine",
            "antipersonnel": "ap_mine",
            "apm": "ap_mine",
            "antitankmine": "at_mine",
            "antivehiclemine": "at_mine",
            "antitank": "at_mine",
            "antivehicle": "at_mine",
            "atm": "at_mine",
            "unexplodedordnance": "uxo",
            "abandonedexplosiveordnance": "axo",
            "clustermunitions": "cluster_munition",
            "cm": "cluster_munition",
            "submunition": "cluster_munition",
            "improvisedexplosivedevice": "ied",
            "boobytrap": "booby_trap",
        }


#: hazard types that make an area a minefield (OpenStreetMap ``hazard=minefield``)
MINE_TYPES = frozenset({HazardType.AP_MINE, HazardType.AT_MINE})


class EvidenceType(Vocabulary):
    DIRECT = "direct"
    INDIRECT = "indirect"


class Priority(Vocabulary):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Blockage(Vocabulary):
    AGRICULTURE = "agriculture"
    ROAD = "road"
    HOUSING = "housing"
    INFRASTRUCTURE = "infrastructure"
    WATER = "water"
    OTHER = "other"


class Marking(Vocabulary):
    NONE = "none"
    SIGNS = "signs"
    FENCED = "fenced"
    BOTH = "both"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"unmarked": "none", "marked": "signs", "fence": "fenced", "signsandfence": "both"}


class ReportStatus(Vocabulary):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    UNAPPROVED = "unapproved"


class ReportType(Vocabulary):
    HAZARD_REPORT = "hazard_report"
    ACTIVITY_REPORT = "activity_report"
    IMPORT_BATCH = "import_batch"
    RELEASE_IMPORT = "release_import"
    EDIT = "edit"
    MINEFIELD_RECORD = "minefield_record"
    MARKING_INSPECTION = "marking_inspection"


class RecordKind(Vocabulary):
    HAZARD_AREA = "hazard_area"
    ADMIN_AREA = "admin_area"
    OUTCOME = "outcome"
    ACTIVITY = "activity"
    DEVICE = "device"
    MINEFIELD_RECORD = "minefield_record"
    MARKER = "marker"
    INSPECTION = "inspection"


class Role(Vocabulary):
    PUBLIC = "public"
    SURVEYOR = "surveyor"
    REVIEWER = "reviewer"
    RECORDS_CUSTODIAN = "records_custodian"
    VICTIM_DATA = "victim_data"
    ADMIN = "admin"


class OnUnmatched(Vocabulary):
    REJECT = "reject"
    SKIP = "skip"


class OnInvalid(Vocabulary):
    REJECT = "reject"
    REPAIR = "repair"
    SKIP = "skip"


class OutcomeKind(Vocabulary):
    """What an activity established about a part of a hazard area (IMAS 07.11 land release)."""

    CANCELLED = "cancelled"
    REDUCED = "reduced"
    CLEARED = "cleared"
    CONFIRMED = "confirmed"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "cancel": "cancelled",
            "cancellation": "cancelled",
            "canceled": "cancelled",
            "reduce": "reduced",
            "reduction": "reduced",
            "clear": "cleared",
            "confirm": "confirmed",
            "confirmation": "confirmed",
        }


#: outcomes that release land (the confirmed part stays hazardous)
RELEASE_KINDS = frozenset({OutcomeKind.CANCELLED, OutcomeKind.REDUCED, OutcomeKind.CLEARED})


class ActivityType(Vocabulary):
    NTS = "nts"
    TS = "ts"
    CLEARANCE = "clearance"
    BAC = "bac"
    EOD_SPOT_TASK = "eod_spot_task"
    QA = "qa"
    QC = "qc"
    HANDOVER = "handover"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "nontechnicalsurvey": "nts",
            "nontechsurvey": "nts",
            "technicalsurvey": "ts",
            "techsurvey": "ts",
            "mineclearance": "clearance",
            "battleareaclearance": "bac",
            "eod": "eod_spot_task",
            "eodspot": "eod_spot_task",
            "spottask": "eod_spot_task",
            "explosiveordnancedisposal": "eod_spot_task",
            "qualityassurance": "qa",
            "qualitycontrol": "qc",
            "landhandover": "handover",
            "handoverofland": "handover",
            "handovercertificate": "handover",
        }


class ActivityStatus(Vocabulary):
    PLANNED = "planned"
    ONGOING = "ongoing"
    COMPLETED = "completed"
    SUSPENDED = "suspended"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"inprogress": "ongoing", "complete": "completed", "done": "completed", "paused": "suspended"}


class Asset(Vocabulary):
    """Clearance assets (IMAS 09.10 manual, 09.50 mechanical, 09.40 animal detection systems)."""

    MANUAL = "manual"
    MECHANICAL = "mechanical"
    DOG = "dog"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"mdd": "dog", "minedetectiondog": "dog", "dogs": "dog", "machine": "mechanical"}


class DeviceCategory(Vocabulary):
    AP_MINE = "ap_mine"
    AT_MINE = "at_mine"
    UXO = "uxo"
    AXO = "axo"
    SUBMUNITION = "submunition"
    IED = "ied"
    OTHER = "other"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "antipersonnelmine": "ap_mine",
            "apm": "ap_mine",
            "antitankmine": "at_mine",
            "atm": "at_mine",
            "antivehiclemine": "at_mine",
            "unexplodedordnance": "uxo",
            "abandonedexplosiveordnance": "axo",
            "clustermunition": "submunition",
            "bomblet": "submunition",
        }


class Disposal(Vocabulary):
    DESTROYED_IN_SITU = "destroyed_in_situ"
    REMOVED = "removed"
    RENDERED_SAFE = "rendered_safe"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "destroyed": "destroyed_in_situ",
            "insitu": "destroyed_in_situ",
            "blowninplace": "destroyed_in_situ",
        }


class MarkerType(Vocabulary):
    SIGN = "sign"
    FENCE = "fence"
    PERMANENT_MARKER = "permanent_marker"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"warningsign": "sign", "permanent": "permanent_marker", "benchmark": "permanent_marker"}


class MineCategory(Vocabulary):
    """The mine categories a minefield record lists (Amended Protocol II, Technical Annex)."""

    AP = "AP"
    AT = "AT"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "apmine": "AP",
            "antipersonnel": "AP",
            "antipersonnelmine": "AP",
            "atmine": "AT",
            "antitank": "AT",
            "antitankmine": "AT",
            "antivehicle": "AT",
            "antivehiclemine": "AT",
        }

    @property
    def hazard_type(self) -> HazardType:
        return HazardType.AP_MINE if self is MineCategory.AP else HazardType.AT_MINE


class EmplacingMethod(Vocabulary):
    HAND = "hand"
    MECHANICAL = "mechanical"
    REMOTELY_DELIVERED = "remotely_delivered"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {
            "manual": "hand",
            "byhand": "hand",
            "remote": "remotely_delivered",
            "scatterable": "remotely_delivered",
        }


class MarkerCondition(Vocabulary):
    GOOD = "good"
    DAMAGED = "damaged"
    MISSING = "missing"

    @classmethod
    def aliases(cls) -> dict[str, str]:
        return {"ok": "good", "intact": "good", "broken": "damaged", "gone": "missing"}
