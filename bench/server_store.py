"""The workspaces that ``bench/server.py`` serves: demo stores built once and cached, scratch
copies for the parts that write, keys, and identifiers sampled for the lookups.

A store is the demo world (``personae init --demo --customers N``) after one ``personae
run``, built through the CLI as a user would; the store of the change-feed part also has the
rule segment its probes enter (:data:`PROBE_SEGMENT`). A million people take long to build
(``bench/RESULTS.md`` has the times), so each store is kept under ``--cache`` in a folder
named after what built it (customers, seed, whether models ran, the probe segment) and
reused; ``build.json`` beside it records how long each step took. A folder is renamed into
place only when the run finished, so an interrupted build is started over, never served
half-made.

The parts that send events get a copy of the cached store (the journal grows, and live
processing will change people), made afresh for every measurement so one run never sees the
previous run's events. The profile lookups only read, so they serve the cached store itself.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

LIVE_SOURCE = "app"
"""The demo workspace's live source (``personae init --demo`` declares it)."""
PROBE_SEGMENT = "bench_tracked"
PROBE_RULE = "days_since_last_seen <= 0"
"""People seen on the as-of day, by the traits (which live processing keeps current): one
event of a brand-new userId dated that day makes its new person enter. The demo's as-of day
is fixed (2025-12-31, ``[workspace] as_of``), so the parts that send events date them that
day (:data:`EVENT_TIMESTAMP`); few of the demo's people were seen on it, so the segment is
small before the probes."""
EVENT_TIMESTAMP = "2025-12-31T12:00:00Z"
"""The ``timestamp`` of the events the parts send: inside the demo's as-of day."""
STORE_VERSION = 3
"""Part of the cache key: bump it when what a store holds changes."""


@dataclass(frozen=True)
class StoreSpec:
    customers: int
    seed: int = 7
    models: bool = True
    probe_segment: bool = False
    fuzzy: bool = True
    """Fuzzy record matching in the identity step. Off for the million-customer store: with it
    the demo world does not fit this machine's 23 GB (issue 18: the fuzzy step's own DuckDB
    connection takes no memory limit)."""
    memory_limit: str | None = None
    """``[engine.duckdb] memory_limit`` for the run that builds the store."""

    @property
    def name(self) -> str:
        probe = "-probe" if self.probe_segment else ""
        fuzzy = "" if self.fuzzy else "-nofuzzy"
        models = "models" if self.models else "nomodels"
        return f"demo-c{self.customers}-s{self.seed}-{models}{fuzzy}{probe}-v{STORE_VERSION}"


@dataclass(frozen=True)
class Keys:
    write: str
    read: str
    admin: str


def personae(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the CLI (this interpreter's ``personae``) and return what it printed; fail loudly."""
    done = subprocess.run(
        [sys.executable, "-m", "personae", *args], capture_output=True, text=True, env=env or dict(os.environ)
    )
    if done.returncode != 0:
        raise RuntimeError(f"personae {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def built_store(spec: StoreSpec, cache: Path) -> Path:
    """The cached store for ``spec``, built first if it is not there (minutes to an hour)."""
    root = cache / spec.name
    if (root / "build.json").exists():
        return root
    partial = cache / (spec.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"building store {spec.name} (cached in {cache} for next time)", flush=True)
    times: dict[str, float] = {}
    started = time.monotonic()
    personae("init", str(partial), "--demo", "--customers", str(spec.customers), "--seed", str(spec.seed))
    times["init_s"] = time.monotonic() - started
    extra = f'\n[[segments]]\nname = "{PROBE_SEGMENT}"\nrule = "{PROBE_RULE}"\n' if spec.probe_segment else ""
    if not spec.models:
        extra += "\n[models]\nenabled = false\n"
    if not spec.fuzzy:
        extra += "\n[identity.fuzzy]\nenabled = false\n"
    if spec.memory_limit:
        extra += f'\n[engine.duckdb]\nmemory_limit = "{spec.memory_limit}"\n'
    with (partial / "personae.toml").open("a", encoding="utf-8") as toml:
        toml.write(extra)
    started = time.monotonic()
    personae("run", "-w", str(partial), "-f", "json")
    times["run_s"] = time.monotonic() - started
    counts = sql_rows(
        partial, "SELECT (SELECT count(*) FROM profiles) AS profiles, (SELECT count(*) FROM events) AS events"
    )
    info = {
        "spec": spec.__dict__,
        "probe_rule": PROBE_RULE if spec.probe_segment else None,
        **times,
        **{k: int(v) for k, v in counts[0].items()},
    }
    info["bytes"] = sum(f.stat().st_size for f in partial.rglob("*") if f.is_file())
    (partial / "build.json").write_text(json.dumps(info, indent=1))
    partial.rename(root)
    print(f"built {spec.name}: {json.dumps(info)}", flush=True)
    return root


def build_info(root: Path) -> dict[str, object]:
    info: dict[str, object] = json.loads((root / "build.json").read_text())
    return info


def sql_rows(root: Path, query: str) -> list[dict[str, str]]:
    """Rows of ``personae sql`` (as CSV strings) over a store no server holds."""
    return list(csv.DictReader(io.StringIO(personae("sql", query, "-w", str(root), "-f", "csv"))))


def scratch_copy(root: Path, scratch: Path) -> Path:
    """A fresh copy of a store to send events to: its keys kept, its journal left behind."""
    target = scratch / f"{root.name}-copy"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(root, target, ignore=shutil.ignore_patterns("journal", "server.json"))
    return target


def make_keys(root: Path) -> Keys:
    """A write key for the live source, a read token and an admin token (through the CLI)."""

    def create(*args: str) -> str:
        secret: str = json.loads(personae("keys", "create", *args, "--name", "bench", "-w", str(root), "-f", "json"))[
            "secret"
        ]
        return secret

    return Keys(
        create("--scope", "write", "--source", LIVE_SOURCE), create("--scope", "read"), create("--scope", "admin")
    )


def sample_identifiers(root: Path, id_type: str, count: int, seed: int = 1) -> list[str]:
    """Up to ``count`` distinct identifiers of a type known to the store, a fixed random sample."""
    rows = sql_rows(
        root,
        f"SELECT id_value FROM (SELECT DISTINCT id_value FROM identity_map WHERE id_type = '{id_type}') "
        f"USING SAMPLE reservoir({int(count)} ROWS) REPEATABLE ({int(seed)})",
    )
    return sorted(row["id_value"] for row in rows)


def identifier_file(root: Path, ids: list[str], id_type: str, out: Path) -> Path:
    """``TYPE:VALUE`` lines escaped for a URL path, for ``wrk/serve_profile.lua``."""
    path = out / f"ids-{root.name}-{id_type}.txt"
    path.write_text("".join(urllib.parse.quote(f"{id_type}:{value}", safe=":") + "\n" for value in ids))
    return path
