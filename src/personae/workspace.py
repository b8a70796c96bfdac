"""``Workspace``: the one core object. The CLI, the server and Python users all build one.

A workspace is a folder with ``personae.toml`` (the specs), the store (``personae.duckdb``,
or Parquet tables under ``spark-warehouse/`` on Spark) and the user's data files.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import tomli_w

from personae.access import AccessKey, KeyRing
from personae.config import CONFIG_FILE, WorkspaceConfig, load_config, parse_config
from personae.engine import Engine, check_engine, open_engine
from personae.engine.dialects import has
from personae.engine.duckdb import DuckDBEngine
from personae.engine.parquet_store import ParquetStoreEngine, remember_store_engine, store_engine, table_folders
from personae.engine.sql import day_sql, literal, timestamp_sql
from personae.engine.store_schema import MigrationReport, check_readable
from personae.errors import EngineError, StoreLockedError, UsageError, WorkspaceError
from personae.pipeline import check_step, run_steps
from personae.progress import Progress, silent
from personae.sources.ingest import RAW_FOLDER, SourceReport, ensure_store
from personae.status import WorkspaceStatus, workspace_status
from personae.steps.context import MODELS_FOLDER, RunContext, StepResult
from personae.store_lock import LOCK_FILE, StoreLock, describe_holder
from personae.workspace_activation import ActivationVerbs
from personae.workspace_privacy import PrivacyVerbs
from personae.workspace_segments import SegmentVerbs

if TYPE_CHECKING:
    from personae.identity.splink_model import MatchWeight
    from personae.identity.views import IdentityReport, PersonView
    from personae.rights.retention import RetentionReport


@dataclass
class RunReport:
    run_id: int
    as_of: date
    engine: str
    steps: list[StepResult]
    seconds: float

    @property
    def sources(self) -> list[SourceReport]:
        return next((list(s.details["sources"]) for s in self.steps if s.name == "ingest"), [])

    @property
    def retention(self) -> list[RetentionReport]:
        """What each source's retention deleted (sources with a retention period)."""
        return next((list(s.details.get("retention", [])) for s in self.steps if s.name == "ingest"), [])

    @property
    def errors(self) -> list[str]:
        return [error for step in self.steps for error in step.errors]

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "engine": self.engine,
            "seconds": round(self.seconds, 3),
            "steps": [
                {
                    "name": s.name,
                    "rows_in": s.rows_in,
                    "rows_out": s.rows_out,
                    "seconds": round(s.seconds, 3),
                    "note": s.note,  # what an incremental run recomputed, or why it recomputed everyone
                }
                for s in self.steps
            ],
            "errors": self.errors,
            "warnings": [warning for step in self.steps for warning in step.warnings],
            **({"retention": [dataclasses.asdict(r) for r in self.retention]} if self.retention else {}),
        }


DEMO_LIVE_SOURCE: dict[str, Any] = {
    "name": "app",
    "kind": "events",
    "live": True,
    "description": "events the demo's app sends to personae serve (empty until it does)",
}
DEMO_DESTINATION: dict[str, Any] = {
    "name": "segment_files",
    "kind": "file",
    "path": "out/segments",
    "segmentations": ["rfm", "lifecycle"],
    "traits": ["revenue_365d", "orders_365d"],
}
"""The demo's destination: every sync's changes and a snapshot as Parquet (docs/destinations.md)."""


class Workspace(ActivationVerbs, PrivacyVerbs, SegmentVerbs):
    """A personae workspace folder; validates its ``personae.toml`` on construction."""

    def __init__(self, path: str | Path, *, env: Mapping[str, str] | None = None, engine: str | None = None) -> None:
        self.root = Path(path).resolve()
        if not self.root.is_dir():
            raise WorkspaceError(f"{self.root}: no such workspace; create it with `personae init {path}`")
        self.config: WorkspaceConfig = load_config(self.root / CONFIG_FILE)
        self.env: Mapping[str, str] = env or {}
        self.engine_name = check_engine(engine or self.config.workspace.engine)
        self._held: Engine | None = None
        self.journal_sealer: Callable[[str], None] | None = None
        self.erasure_listener: Callable[[Engine], None] | None = None
        self.compact_owed = False
        """An erasure ran on the held store: the file is rewritten when it is let go (see :meth:`erase`)."""
        """Set by a server: told (with the store, in the write turn) when people were just erased."""
        """Set by a server that holds the live sources' journals: a run asks it to seal them."""
        self.last_migration: MigrationReport | None = None
        """What the last open to write did to the store's schema version (:meth:`migrate`)."""
        self._writes = threading.Lock()
        """Held open, writes in this process take turns (DuckDB would refuse concurrent ones)."""

    # -- creation ------------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        demo: bool = False,
        customers: int = 20_000,
        seed: int = 7,
        config: Mapping[str, Any] | None = None,
    ) -> Workspace:
        """Create a workspace folder with a ``personae.toml`` (and demo data with ``demo``)."""
        root = Path(path)
        if (root / CONFIG_FILE).exists():
            raise WorkspaceError(f"{root / CONFIG_FILE} already exists; pick another folder")
        root.mkdir(parents=True, exist_ok=True)
        (root / "data").mkdir(exist_ok=True)
        data: dict[str, Any] = dict(config or {"workspace": {"name": root.resolve().name}})
        if demo:
            from personae.demo import generate

            world = generate(root, customers=customers, seed=seed)
            data["sources"] = [dict(source) for source in world.sources]
            data["sources"].append(DEMO_LIVE_SOURCE)
            data["destinations"] = [DEMO_DESTINATION]
            data.setdefault("workspace", {})["as_of"] = world.as_of
        parse_config(data, root / CONFIG_FILE)  # never write an invalid file
        text = tomli_w.dumps(data)
        if demo:
            text = f"# the demo data runs up to {world.as_of}: runs compute as of that day (workspace.as_of)\n" + text
        (root / CONFIG_FILE).write_text(text, encoding="utf-8")
        return cls(root)

    # -- engine access -------------------------------------------------------------------
    @contextmanager
    def open(self, *, command: str | None = None) -> Iterator[Workspace]:
        """Hold the store for as long as the block runs: the engine and the writer lock (and,
        for the server, the live state kept beside them).

        Every verb called meanwhile, from any thread, uses the held store (each thread through
        a connection of its own; writes take turns). A second writer, in another process or
        through another ``open``, gets the lock error naming this one.
        """
        if self._held is not None:
            raise WorkspaceError(f"workspace {self.root} is already open in this process")
        lock = StoreLock(self.root, command).acquire()
        try:
            engine = open_engine(self.root, self.config.engine, self.engine_name)
            try:
                self.last_migration = ensure_store(engine)
                self._expose_raw(engine)
                self._held = engine
                yield self
            finally:
                self._held = None
                engine.close()
                if self.compact_owed:  # an erasure ran while the store was held: rewrite it now
                    self._compact_store()
        finally:
            lock.release()

    @property
    def is_open(self) -> bool:
        return self._held is not None

    def _expose_raw(self, engine: Engine) -> None:
        """Declare the ``raw_<source>`` views on an engine that does not keep them."""
        if not has(engine.name, "persistent_views"):
            for folder in sorted((self.root / RAW_FOLDER).glob("*")):
                engine.expose_folder(f"raw_{folder.name}", folder)

    @contextmanager
    def engine(self, *, write: bool, name: str | None = None) -> Iterator[Engine]:
        """The store's engine; writers hold the workspace lock for as long as they use it (or,
        while the workspace is held open, take turns on the held store)."""
        chosen = check_engine(name) if name else self.engine_name
        if self._held is not None:
            if chosen != self._held.name:
                raise WorkspaceError(f"workspace {self.root} is open on {self._held.name}, not {chosen}")
            connection = self._held.cursor()
            try:
                with self._writes if write else nullcontext():
                    yield connection
            finally:
                if connection is not self._held:
                    connection.close()
            return
        if not write and self._reads_spark(name):
            with self._spark_store() as reader:  # a Spark store is read without Spark
                check_readable(reader)
                yield reader
            return
        lock = StoreLock(self.root) if write else None
        if lock:
            lock.acquire()
        try:
            read_only = not write and has(chosen, "read_only_open")
            if read_only and self._no_store(chosen):
                raise WorkspaceError(f"{self.root}: the store is empty; run `personae run` first")
            try:
                engine = open_engine(self.root, self.config.engine, chosen, read_only=read_only)
            except StoreLockedError:
                raise StoreLockedError(
                    f"workspace {self.root} is held for writing by {describe_holder(self.root / LOCK_FILE)}"
                ) from None
            with engine:
                if write:
                    self.last_migration = ensure_store(engine)
                else:
                    check_readable(engine)
                self._expose_raw(engine)
                yield engine
        finally:
            if lock:
                lock.release()

    def _reads_spark(self, name: str | None) -> bool:
        """Whether a read that names no engine finds a store Spark wrote."""
        return name is None and (store_engine(self.root) or self.engine_name) == "spark"

    def _spark_store(self) -> ParquetStoreEngine:
        """The store a Spark run wrote, read by DuckDB over its Parquet folders (no JVM)."""
        settings = self.config.engine
        warehouse = self.root / settings.spark.warehouse
        if not table_folders(warehouse):
            raise WorkspaceError(f"{self.root}: the store is empty; run `personae run` first")
        engine = ParquetStoreEngine(
            warehouse, memory_limit=settings.duckdb.memory_limit, threads=settings.duckdb.threads
        )
        self._expose_raw(engine)
        return engine

    def write_turn(self) -> AbstractContextManager[object]:
        """The turn writers take on the held store (nothing to take when it is not held)."""
        return self._writes if self._held is not None else nullcontext()

    def _no_store(self, engine: str) -> bool:
        """Whether the store of an engine that opens its file to read has no file yet (nothing run)."""
        return has(engine, "read_only_open") and not (self.root / self.config.engine.duckdb.path).exists()

    # -- access keys -------------------------------------------------------------------------
    @property
    def key_ring(self) -> KeyRing:
        """The workspace's access keys (write keys of the tracking API, read and admin tokens)."""
        return KeyRing(self.root)

    def create_key(self, scope: str, *, name: str = "", source: str | None = None) -> tuple[AccessKey, str]:
        """Make an access key; returns it and its secret, shown this once and kept nowhere."""
        if source is not None:
            self.config.source(source)  # a write key's source must exist
        return self.key_ring.create(scope, name=name, source=source)

    # -- the verbs -------------------------------------------------------------------------
    def run(
        self,
        *,
        as_of: date | None = None,
        engine: str | None = None,
        only: str | None = None,
        progress: Progress | None = None,
        full: bool = False,
    ) -> RunReport:
        """Run the pipeline (all steps, or ``only`` one) as of a date (default: ``[workspace] as_of``,
        else today, UTC); incremental where a step can be, everything for everyone with ``full``."""
        if only is not None:
            check_step(only)
        started = datetime.now(UTC).replace(tzinfo=None)
        as_of = as_of or self.config.workspace.as_of or started.date()
        with self.engine(write=True, name=engine) as store:
            remember_store_engine(self.root, store.name)
            run_id = int(store.scalar("SELECT coalesce(max(run_id), 0) + 1 FROM runs"))
            context = RunContext(
                self.root,
                self.config,
                store,
                as_of,
                started.isoformat(sep=" "),
                self.env,
                progress or silent,
                self.journal_sealer,
                full=full,
            )
            steps = run_steps(context, only)
            finished = datetime.now(UTC).replace(tzinfo=None)
            report = RunReport(run_id, as_of, store.name, steps, (finished - started).total_seconds())
            store.insert(
                "runs",
                ["run_id", "started_at", "finished_at", "as_of", "engine", "status", "summary"],
                f"SELECT {run_id}, {timestamp_sql(started.isoformat(sep=' '))}, "
                f"{timestamp_sql(finished.isoformat(sep=' '))}, "
                f"{day_sql(as_of)}, {literal(store.name)}, "
                f"{literal('failed' if report.errors else 'ok')}, "
                f"{literal(json.dumps(report.summary()))}",
            )
        return report

    def migrate(self) -> MigrationReport:
        """Bring the store to this personae's schema version: what every command that writes
        does first, and the one thing ``personae migrate`` does (a store of a newer version
        is refused, naming both)."""
        with self.engine(write=True) as store:  # every open to write (or to hold) migrates
            return self.last_migration or ensure_store(store)

    def sql(self, query: str, *, engine: str | None = None) -> pa.Table:
        """Run one read-only query a user wrote: the store's tables and views, and the raw copies
        behind ``raw_<source>``, but no other file, and nothing that writes or configures.

        ``personae sql`` comes here, and so will the server's read tokens: one path, so one
        set of limits (:meth:`personae.engine.Engine.user_sql`).
        """
        if not query.strip():
            raise UsageError("the query is empty; write one, e.g. `select count(*) from profiles`")
        raw = self.root / RAW_FOLDER
        folders = {f"raw_{folder.name}": folder for folder in sorted(raw.glob("*")) if any(folder.glob("*.parquet"))}
        chosen = check_engine(engine) if engine else self.engine_name
        if self._held is None and not self._reads_spark(engine) and self._no_store(chosen):
            with DuckDBEngine() as empty:  # nothing run yet: a query of no table still answers
                try:
                    return empty.user_sql(query, {})
                except (UsageError, EngineError) as error:  # a table the store does not have yet
                    raise WorkspaceError(f"{error}; the store is empty: run `personae run` first") from None
        with self.engine(write=False, name=engine) as store:
            return store.user_sql(query, folders)

    def profile(self, identifier: str) -> PersonView:
        """One person's 360° view, found by any identifier (``email:jane@example.com``)."""
        from personae.activation.live_actions import person_actions
        from personae.identity.views import person

        with self.engine(write=False) as store:
            view = person(store, identifier, self.config.workspace.phone_region)
            actions = person_actions(store, self.config.actions, view.uid)
        return dataclasses.replace(view, next_actions=[dataclasses.asdict(action) for action in actions])

    def audit(self, *, since: date | None = None, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The audit log, newest first (:mod:`personae.privacy.audit`)."""
        from personae.privacy.audit import check_audit_query, read_audit

        check_audit_query(action, limit)
        if self._held is None and self._no_store(self.engine_name):
            return []
        with self.engine(write=False) as store:
            return read_audit(store, since=since, action=action, limit=limit)

    def identity_report(self) -> IdentityReport:
        """Suspicious identity components: largest people, cut links, shared values."""
        from personae.identity.views import report

        with self.engine(write=False) as store:
            return report(store, self.root / MODELS_FOLDER)

    def explain_match(self, first: str, second: str) -> list[MatchWeight]:
        """Match weights of two customer records (``SOURCE:RECORD`` each) under the fuzzy model."""
        from personae.identity.explain import explain_pair

        with self.engine(write=False) as store:
            return explain_pair(store, self.root / MODELS_FOLDER, first, second)

    def status(self) -> WorkspaceStatus:
        """Sources with their files, rows loaded and quarantined; the last run; table sizes."""
        with self.engine(write=False) as store, store.transaction():  # one snapshot, while runs write
            return workspace_status(store, self.config.sources, self.config.segmentations)
