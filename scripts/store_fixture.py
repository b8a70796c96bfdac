"""Make the fixture store of this personae's schema version: tests/fixtures/stores/v<N>.tar.gz.

Run it after every schema change (a new migration in src/personae/engine/store_schema.py),
from the checkout whose version it is, and commit the file:

    .venv/bin/python scripts/store_fixture.py

It builds a small demo workspace (20 customers) and uses it as a user would: a run, a rule
segment, an erasure, a sync and a second run, so that most declared tables hold rows. The
archive keeps what a store is made of: ``personae.toml``, the store, the raw copies, the
data files and the saved models. ``tests/engine/test_store_schema.py`` opens the fixture of
every version with the current code. (v0 was made this way by the last commit before schema
versions, d1b0310.)
"""

from __future__ import annotations

import argparse
import tarfile
import tempfile
from pathlib import Path

from personae import Workspace

try:
    from personae.engine.store_schema import SCHEMA_VERSION
except ImportError:  # a personae from before schema versions
    SCHEMA_VERSION = 0

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "stores"
KEPT = ("personae.toml", "personae.duckdb", "data", "raw", "models", ".personae/store.json")


def build(root: Path) -> None:
    workspace = Workspace.init(root, demo=True, customers=20, seed=7)
    workspace.run()
    workspace.add_segment("big_spenders", "revenue_365d > 100", description="fixture rule segment")
    email = workspace.sql("SELECT email FROM profiles WHERE email IS NOT NULL ORDER BY uid LIMIT 1")
    workspace.erase([f"email:{email.column(0)[0].as_py()}"])
    workspace.sync()
    workspace.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIXTURES / f"v{SCHEMA_VERSION}.tar.gz")
    out = parser.parse_args().out
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "store"
        build(root)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as archive:
            for name in KEPT:
                if (root / name).exists():
                    archive.add(root / name, arcname=name)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB) at schema version {SCHEMA_VERSION}")


if __name__ == "__main__":
    main()
