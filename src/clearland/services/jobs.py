"""Screening jobs: ``screening.screen`` run in the background on an uploaded points file, with
its progress, its result file and its error kept where any process of the server finds them.

Each job has a folder ``<jobs folder>/<id>/`` holding the input, the result and ``job.json``
(its state, rewritten whole, atomically, at each change). The process that started a job runs
it, one job at a time (screening itself uses every core); the other worker processes of the
same server read its state from the folder. Ids are ``secrets.token_urlsafe`` (192 bits): a job
is found only by whoever was given its id. Jobs older than the time to live are deleted, with
their files, by whichever process looks next.

    queued → running → done | failed
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clearland.errors import InputError, StateError, UnknownRecord
from clearland.services import screening
from clearland.services.registry import Registry
from clearland.services.safety import DEFAULT_WITHIN_M, check_within

log = logging.getLogger("clearland.jobs")

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = frozenset({QUEUED, RUNNING})
OUT_FORMATS = {"csv": ".csv", "parquet": ".parquet"}
_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")
_STATE_FILE = "job.json"
SERVER_FAILURE = "the screening failed on the server; it has been logged"


class _Stopped(Exception):
    """Raised from the progress callback to stop a job that was deleted or a server stopping."""


@dataclass
class Job:
    id: str
    state: str
    input_name: str
    out_format: str
    options: dict[str, Any]
    created_at: float
    updated_at: float
    points_done: int = 0
    points_total: int | None = None
    #: for a failed job: ``code`` (the error's), ``message`` and ``errors`` (per row or field)
    error: dict[str, Any] | None = None
    #: for a finished job: the counts per status, points per second, the registry's revision …
    summary: dict[str, Any] | None = None
    folder: Path = field(default=Path(), repr=False)

    @property
    def input_path(self) -> Path:
        return self.folder / self.input_name

    @property
    def result_path(self) -> Path:
        return self.folder / f"result{OUT_FORMATS[self.out_format]}"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    def view(self) -> dict[str, Any]:
        """The job as plain data: no server paths."""
        out = {k: v for k, v in asdict(self).items() if k != "folder"}
        out["created_at"] = _iso(self.created_at)
        out["updated_at"] = _iso(self.updated_at)
        return out


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_folder(registry: Registry) -> Path:
    """One folder per registry (so every worker process of a server shares it) and user."""
    import hashlib

    key = hashlib.sha256(str(registry.store.url).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"clearland-jobs-{os.getuid() if hasattr(os, 'getuid') else 0}-{key}"


class Jobs:
    """The screening jobs of one server. Safe to share between threads."""

    def __init__(
        self, registry: Registry, folder: Path, *, ttl_s: float = 6 * 3600, max_active: int = 4
    ) -> None:
        self.registry = registry
        self.folder = folder
        self.ttl_s = ttl_s
        self.max_active = max_active
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}  # started here
        self._futures: dict[str, Future[None]] = {}
        self._stop: set[str] = set()  # jobs to stop at their next batch
        self._closing = False
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clearland-screen")

    # -- starting ----------------------------------------------------------------------------

    def has_room(self) -> bool:
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.is_active) < self.max_active

    def prepare(
        self,
        *,
        within_m: float = DEFAULT_WITHIN_M,
        lon_col: str | None = None,
        lat_col: str | None = None,
        id_col: str | None = None,
        time_col: str | None = None,
        out_format: str = "csv",
    ) -> Job:
        """A new job with its folder (``job.folder``), waiting for its input: ``start`` it
        once the input file is there (or ``delete`` it)."""
        check_within(within_m)
        if out_format not in OUT_FORMATS:
            raise InputError(
                f"out_format: {out_format!r} is not a result format (csv, parquet)",
                detail=[{"parameter": "out_format", "message": "csv or parquet"}],
            )
        self.sweep()
        now = time.time()
        job_id = secrets.token_urlsafe(24)
        folder = self.folder / job_id
        folder.mkdir(mode=0o700)
        job = Job(
            id=job_id,
            state=QUEUED,
            input_name="",
            out_format=out_format,
            options={
                "within_m": within_m,
                "lon_col": lon_col,
                "lat_col": lat_col,
                "id_col": id_col,
                "time_col": time_col,
            },
            created_at=now,
            updated_at=now,
            folder=folder,
        )
        with self._lock:
            self._jobs[job_id] = job
        self._save(job)
        return job

    def start(self, job_id: str, input_name: str) -> Job:
        """Queue the job, its input being ``input_name`` in its folder."""
        with self._lock:
            job = self._jobs[job_id]
            job.input_name = input_name
            self._futures[job_id] = self._executor.submit(self._run, job)
            return job

    # -- reading -----------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """The job (``UnknownRecord`` for an id that is not, or no longer, a job)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            if not job.folder.exists():
                raise UnknownRecord("no such job (jobs are deleted some hours after they end)")
            return job
        return self._load(job_id)

    def result(self, job_id: str) -> tuple[Job, Path]:
        """The finished job and its result file; ``StateError`` while it is not done."""
        job = self.get(job_id)
        if job.state == FAILED:
            raise StateError(f"the job failed, there is no result: {(job.error or {}).get('message')}")
        if job.state != DONE:
            raise StateError(f"the job is {job.state}: its result is not ready yet")
        if not job.result_path.exists():
            raise UnknownRecord("no such job (jobs are deleted some hours after they end)")
        return job, job.result_path

    # -- ending ------------------------------------------------------------------------------

    def delete(self, job_id: str) -> None:
        """Stop a job (at its next batch, when running) and delete it with its files."""
        job = self.get(job_id)
        with self._lock:
            future = self._futures.get(job_id)
            if future is not None and not future.done() and not future.cancel():
                self._stop.add(job_id)  # running: the worker deletes the folder when it stops
                return
            self._futures.pop(job_id, None)
            self._jobs.pop(job_id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def sweep(self) -> int:
        """Delete the jobs whose last change is older than the time to live; how many."""
        deleted = 0
        now = time.time()
        for folder in self.folder.iterdir() if self.folder.exists() else ():
            if not _ID.match(folder.name) or not folder.is_dir():
                continue
            with self._lock:
                mine = self._jobs.get(folder.name)
                if mine is not None and mine.is_active:
                    continue
            try:
                changed = (folder / _STATE_FILE).stat().st_mtime
            except OSError:
                changed = folder.stat().st_mtime
            if now - changed > self.ttl_s:
                shutil.rmtree(folder, ignore_errors=True)
                with self._lock:
                    self._jobs.pop(folder.name, None)
                deleted += 1
        return deleted

    def close(self) -> None:
        """Stop: queued jobs are dropped, a running one stops at its next batch."""
        with self._lock:
            self._closing = True
            self._stop.update(j for j, job in self._jobs.items() if job.is_active)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- running -----------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        if self._stopping(job):
            self._finish_stopped(job)
            return
        self._update(job, state=RUNNING)

        def progress(done: int, total: int | None) -> None:
            if self._stopping(job):
                raise _Stopped
            self._update(job, points_done=done, points_total=total)

        try:
            summary = screening.screen(
                self.registry,
                job.input_path,
                job.result_path,
                within_m=float(job.options["within_m"]),
                lon_col=job.options["lon_col"],
                lat_col=job.options["lat_col"],
                id_col=job.options["id_col"],
                time_col=job.options["time_col"],
                progress=progress,
            )
        except _Stopped:
            self._finish_stopped(job)
            return
        except InputError as exc:
            # the sender knows the file by its name; where it was kept is the server's business
            def plain(value: Any) -> Any:
                return value.replace(f"{job.folder}{os.sep}", "") if isinstance(value, str) else value

            errors = [{k: plain(v) for k, v in entry.items()} for entry in exc.detail]
            error = {"code": exc.code, "message": plain(exc.message), "errors": errors}
            self._update(job, state=FAILED, error=error)
        except Exception:
            log.exception("screening job %s failed", job.id)
            self._update(job, state=FAILED, error={"code": "error", "message": SERVER_FAILURE, "errors": []})
        else:
            kept = {k: v for k, v in summary.items() if k not in ("input", "output")}
            self._update(job, state=DONE, summary=kept, points_done=summary["points"])
        finally:
            with self._lock:
                self._futures.pop(job.id, None)
        job.input_path.unlink(missing_ok=True)  # the result is what is kept

    def _stopping(self, job: Job) -> bool:
        with self._lock:
            return job.id in self._stop

    def _finish_stopped(self, job: Job) -> None:
        with self._lock:
            self._stop.discard(job.id)
            closing = self._closing
            deleted = not closing
            if deleted:
                self._jobs.pop(job.id, None)
        if deleted:
            shutil.rmtree(job.folder, ignore_errors=True)
        else:
            message = "the server stopped before the job ended; send the file again"
            self._update(job, state=FAILED, error={"code": "state", "message": message, "errors": []})

    def _update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)
            job.updated_at = time.time()
        self._save(job)

    def _save(self, job: Job) -> None:
        if not job.folder.exists():
            return  # deleted meanwhile
        state = asdict(job)
        state.pop("folder")
        target = job.folder / _STATE_FILE
        partial = target.with_suffix(".partial")
        try:
            partial.write_text(json.dumps(state), encoding="utf-8")
            os.replace(partial, target)
        except FileNotFoundError:
            pass  # the job was deleted while it was being saved

    def _load(self, job_id: str) -> Job:
        """A job started by another process of this server, from its folder."""
        missing = UnknownRecord("no such job (jobs are deleted some hours after they end)")
        if not _ID.match(job_id):
            raise missing
        folder = self.folder / job_id
        try:
            state = json.loads((folder / _STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise missing from None
        if time.time() - float(state["updated_at"]) > self.ttl_s:
            raise missing
        return Job(**state, folder=folder)


__all__ = ["DONE", "FAILED", "OUT_FORMATS", "QUEUED", "RUNNING", "Job", "Jobs", "default_folder"]
