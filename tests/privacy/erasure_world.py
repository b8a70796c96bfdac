"""A demo workspace for the erasure tests, built once and copied by each test; its input files
live outside the workspace folder (they are the operator's, not personae's), so that the
folder holds only what personae wrote."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import tomli_w

CUSTOMERS = 400


def personae(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "personae", *args], capture_output=True, text=True, env=os.environ.copy(), timeout=900
    )
    if check and done.returncode != 0:
        raise AssertionError(f"personae {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass(frozen=True)
class World:
    root: Path
    """The workspace folder."""
    inputs: Path
    """The input files (outside the workspace)."""

    @property
    def store(self) -> Path:
        return self.root / "personae.duckdb"

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.store), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    def copy(self, folder: Path) -> World:
        """A copy of the workspace and its inputs under ``folder``, its sources pointing at the copy's inputs."""
        root, inputs = folder / "workspace", folder / "inputs"
        shutil.copytree(self.root, root)
        shutil.copytree(self.inputs, inputs)
        _point_sources(root, self.inputs, inputs)
        return World(root, inputs)


def _point_sources(root: Path, old: Path, new: Path) -> None:
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    for source in config["sources"]:
        if "path" in source:
            source["path"] = source["path"].replace(str(old), str(new))
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")


def build(folder: Path) -> World:
    """``personae init --demo``, inputs moved out, ``personae run``."""
    root, inputs = folder / "workspace", folder / "inputs"
    personae("init", str(root), "--demo", "--customers", str(CUSTOMERS))
    shutil.move(root / "data", inputs)
    shutil.rmtree(root / "truth")
    config = tomllib.loads((root / "personae.toml").read_text(encoding="utf-8"))
    for source in config["sources"]:
        if "path" in source and source["path"].startswith("data/"):
            source["path"] = str(inputs / source["path"].removeprefix("data/"))
    (root / "personae.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
    personae("run", "-w", str(root))
    return World(root, inputs)


def text_columns_holding(world: World, needles: list[str]) -> dict[str, int]:
    """Table -> rows with any column whose text holds one of the needles (lower case)."""
    found: dict[str, int] = {}
    with duckdb.connect(str(world.store), read_only=True) as connection:
        connection.execute("CREATE TEMP TABLE needles AS SELECT unnest($1::VARCHAR[]) AS needle", [needles])
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_catalog = current_database() AND table_schema = 'main'"
        ).fetchall()
        for (table,) in tables:
            columns = [row[0] for row in connection.execute(f'DESCRIBE "{table}"').fetchall()]
            text = " || '|' || ".join(f"coalesce(lower(CAST(\"{column}\" AS VARCHAR)), '')" for column in columns)
            holds = f"EXISTS (SELECT 1 FROM needles n WHERE contains({text}, n.needle))"
            rows = connection.execute(f'SELECT count(*) FROM "{table}" t WHERE {holds}').fetchone()
            if rows and rows[0]:
                found[table] = int(rows[0])
    return found


def phone_pattern(e164: str) -> bytes:
    """A regex for the national digits of a phone number, written with any separators."""
    national = e164.removeprefix("+1") if e164.startswith("+1") else e164.lstrip("+")
    return rb"\D{0,3}".join(re.escape(digit.encode()) for digit in national)


def files_holding(folder: Path, emails: list[str], phones: list[str]) -> dict[str, list[str]]:
    """Every file under ``folder`` whose bytes hold one of the e-mail addresses (any case) or
    phone numbers (any separators): path -> what it holds."""
    email_re = re.compile(b"|".join(re.escape(email.encode()) for email in emails), re.IGNORECASE)
    phone_re = re.compile(b"|".join(phone_pattern(phone) for phone in phones)) if phones else None
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits = [m.group().decode("utf-8", "replace") for m in email_re.finditer(data)]
        if phone_re is not None:
            hits += [m.group().decode("utf-8", "replace") for m in phone_re.finditer(data)]
        if hits:
            found[str(path.relative_to(folder))] = sorted(set(hits))[:3]
    return found
