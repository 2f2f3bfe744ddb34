"""Typed settings, ``CLEARLAND_`` prefix. Built once at start-up and passed in, never global."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ImportSettings(BaseSettings):
    """Limits for untrusted input files (``CLEARLAND_IMPORT_…``)."""

    model_config = SettingsConfigDict(env_prefix="CLEARLAND_IMPORT_")

    max_file_bytes: int = Field(2 * 1024**3, description="largest file accepted, bytes")
    max_uncompressed_bytes: int = Field(2 * 1024**3, description="most bytes extracted from one zip or KMZ")
    max_compression_ratio: float = Field(
        200.0, description="zip members expanding more than this are refused (zip bombs)"
    )
    max_features: int = Field(5_000_000, description="most features read from one file")


class ApiSettings(BaseSettings):
    """The HTTP API served by ``clearland serve`` (``CLEARLAND_API_…``)."""

    model_config = SettingsConfigDict(env_prefix="CLEARLAND_API_")

    max_body_bytes: int = Field(10 * 1024**2, ge=0, description="largest request body accepted, bytes")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins that browsers may call the API from, comma-separated; empty: CORS off",
    )
    public_url: str | None = Field(
        None, description="the API's public base URL for links (default: the URL each request came to)"
    )
    check_rate_per_minute: int = Field(
        60,
        ge=0,
        description="safety checks and screening jobs one client address may ask for a minute; 0: no limit",
    )
    tile_cache_bytes: int = Field(64 * 1024**2, ge=0, description="memory kept for drawn vector tiles, bytes")
    tile_max_age_s: int = Field(60, ge=0, description="how long clients may reuse a vector tile, seconds")
    screen_max_body_bytes: int = Field(
        512 * 1024**2, ge=0, description="largest points file POST /screen accepts, bytes"
    )
    jobs_dir: Path | None = Field(
        None, description="folder for screening jobs' files (default: one in the system's temp folder)"
    )
    job_ttl_s: int = Field(
        6 * 3600, ge=60, description="screening jobs and their results are deleted after this, seconds"
    )
    max_jobs: int = Field(4, ge=1, description="screening jobs queued or running at once, per server process")
    session_lifetime_s: int = Field(
        8 * 3600, ge=60, description="how long a login session (cookie) lasts, seconds"
    )
    login_failures_per_minute: int = Field(
        10,
        ge=0,
        description="failed logins one client address may make a minute before it must wait; 0: no limit",
    )
    basemap_url: str | None = Field(
        None,
        description=(
            "XYZ raster tiles drawn under the web map, a URL template with {z}/{x}/{y}; "
            "empty (default): no basemap, and the map asks nothing of any other server"
        ),
    )
    basemap_attribution: str | None = Field(
        None, description="the basemap's attribution, shown on the web map (e.g. its licence)"
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


class Settings(BaseSettings):
    """Everything clearland reads from its environment.

    ``CLEARLAND_DATABASE_URL``: a SQLAlchemy URL (``sqlite:///path.db``,
    ``postgresql+psycopg://…``) or a plain file path; default ``./clearland.db``.
    ``CLEARLAND_USER``: the user CLI actions run as; default the local admin ``admin``.
    """

    model_config = SettingsConfigDict(env_prefix="CLEARLAND_")

    database_url: str = Field("clearland.db", description="database URL or SQLite file path")
    user: str = Field("admin", description="user that CLI actions run as")
    sliver_min_m2: float = Field(1.0, description="gaps and parts smaller than this are slivers")
    authority: str = Field(
        "National Mine Action Authority",
        description="the authority named on completion reports and certificates",
    )
    imports: ImportSettings = Field(default_factory=ImportSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)


def database_url(value: str) -> str:
    """Turn ``--db`` input (a URL or a path) into a SQLAlchemy URL. ``postgresql://`` and
    ``postgres://`` (libpq's spelling) go through psycopg 3, the driver clearland installs."""
    for scheme in ("postgresql://", "postgres://"):
        if value.startswith(scheme):
            return "postgresql+psycopg://" + value[len(scheme) :]
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"
