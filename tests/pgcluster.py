"""A throwaway PostgreSQL + PostGIS cluster for the test suite and the benchmarks.

``temporary_cluster()`` runs Debian's PostgreSQL binaries on a free port of 127.0.0.1, with its
data and socket in a new temporary directory, and removes all of it afterwards. PostgreSQL will
not run as root: as root the server runs as the ``postgres`` user (created by the Debian
package). Nothing here is part of clearland itself; ``scripts/ensure_postgis.sh`` installs the
packages.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: where Debian puts the server's binaries (postgresql-15)
BIN_DIRS = tuple(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
#: the template every test database is created from: empty but for the postgis extension
TEMPLATE = "clearland_template"


class ClusterError(RuntimeError):
    pass


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, *statements: str, database: str = "postgres") -> None:
        """Run statements outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=database, autocommit=True
        ) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    def create_database(self, name: str, template: str = TEMPLATE) -> str:
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _bin(name: str) -> str:
    for folder in BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    raise ClusterError(
        f"PostgreSQL's {name} is not installed: run scripts/ensure_postgis.sh "
        "(apt-get install postgresql postgresql-15-postgis-3)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def temporary_cluster(*, durable: bool = False, settings: Sequence[str] = ()) -> Iterator[Cluster]:
    """Start a cluster, create the ``TEMPLATE`` database with PostGIS, stop and remove it all
    afterwards. ``durable=False`` (tests) turns fsync off; benchmarks keep PostgreSQL's defaults."""
    as_root = os.geteuid() == 0
    owner = pwd.getpwnam("postgres") if as_root else None
    folder = Path(tempfile.mkdtemp(prefix="clearland-pg-"))
    data, sockets = folder / "data", folder / "run"
    sockets.mkdir()
    if owner is not None:
        for path in (folder, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout).strip()}")
        return done

    port = _free_port()
    options = [
        f"-p {port}",
        "-c listen_addresses=127.0.0.1",
        f"-c unix_socket_directories={sockets}",
        "-c max_connections=200",
        *([] if durable else ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]),
        *(f"-c {s}" for s in settings),
    ]
    started = False
    try:
        run([_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        run(
            [
                _bin("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "server.log"),
                "-w",
                "-o",
                " ".join(options),
                "start",
            ]
        )
        started = True
        cluster = Cluster("127.0.0.1", port, "postgres")
        cluster.admin(f'CREATE DATABASE "{TEMPLATE}"')
        cluster.admin("CREATE EXTENSION postgis", database=TEMPLATE)
        cluster.admin(f'ALTER DATABASE "{TEMPLATE}" WITH is_template true')
        yield cluster
    finally:
        if started:
            with contextlib.suppress(ClusterError):
                run([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":  # a quick look: python tests/pgcluster.py
    with temporary_cluster() as c:
        print(c.url(TEMPLATE))
