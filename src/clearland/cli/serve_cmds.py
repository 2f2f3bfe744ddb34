"""``clearland serve``: the HTTP API on uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from clearland.cli import output
from clearland.cli.common import state
from clearland.errors import ConfigError
from clearland.settings import Settings, database_url


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each keeps its own cache).")] = 1,
) -> None:
    """Serve the registry over HTTP: OGC API – Features at /, OpenAPI at /openapi.json, docs at /docs."""
    import uvicorn

    from clearland.services.registry import open_registry

    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: choose a port from 1 to 65535")
    if workers < 1:
        raise ConfigError(f"--workers {workers}: at least 1")
    if state.db is not None:
        # the workers build their app from the environment (uvicorn imports it by name)
        os.environ["CLEARLAND_DATABASE_URL"] = database_url(state.db)
    settings = Settings()
    registry = open_registry(settings)
    try:
        registry.store.check_ready()  # refuse to start on a missing or outdated registry
    finally:
        registry.close()
    where = registry.store.sqlite_path or "the registry"
    output.err.print(f"Serving {where} on http://{host}:{port}/ (Ctrl+C stops)", markup=False)
    uvicorn.run(
        "clearland.api.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        server_header=False,
        log_level="info",
    )
