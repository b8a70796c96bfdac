"""Configuration changes seen at run start, for the audit log.

Each run digests ``personae.toml`` part by part: each key of a top-level table
(``workspace.as_of``, ``identity.fuzzy``), each entry of an array of tables by its name
(``sources.web``, ``destinations.crm``), and each top-level value. When the digest differs
from the last ``config.change`` row, a new row names the parts ``added``, ``removed`` and
``changed``, and keeps the parts' digests for the next comparison. The digests are salted
SHA-256 (:func:`~personae.privacy.audit.salted_digest`): no value is kept, so a secret
written in the file (which personae tells users not to do) cannot be read back nor guessed
from the log.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from personae.engine.base import Engine
from personae.engine.sql import literal
from personae.privacy.audit import (
    AUDIT_TABLE,
    CONFIG_CHANGE,
    AuditEntry,
    audit_salt,
    record_audit,
    salted_digest,
)


def config_parts(data: dict[str, Any]) -> dict[str, Any]:
    """The parts of a parsed ``personae.toml`` the log compares, by name (values, not digests)."""
    parts: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            parts.update({f"{key}.{inner}": item for inner, item in value.items()})
            if not value:
                parts[key] = {}
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for index, item in enumerate(value):
                parts[f"{key}.{item.get('name', index)}"] = item
        else:
            parts[key] = value
    return parts


def _last_parts(engine: Engine) -> dict[str, str] | None:
    if not engine.has_table(AUDIT_TABLE):
        return None
    detail = engine.scalar(
        f'SELECT detail FROM {AUDIT_TABLE} WHERE action = {literal(CONFIG_CHANGE)} ORDER BY "at" DESC LIMIT 1'
    )
    if detail is None:
        return None
    return dict(json.loads(str(detail)).get("parts", {}))


def record_config_change(engine: Engine, config_file: Path, *, actor: str = "run") -> AuditEntry | None:
    """Compare ``config_file`` with the last configuration recorded; record and return the
    change (None when the same, or when there is no file to read)."""
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None  # the workspace loaded it a moment ago; a file gone or broken since is the next run's
    salt = audit_salt(engine)
    parts = {name: salted_digest(salt, value) for name, value in sorted(config_parts(data).items())}
    last = _last_parts(engine)
    if last == parts:
        return None
    before = last or {}
    entry = AuditEntry(
        CONFIG_CHANGE,
        actor=actor,
        scope="config",
        target=config_file.name,
        detail={
            "first": last is None,
            "digest": salted_digest(salt, parts),
            "added": sorted(set(parts) - set(before)),
            "removed": sorted(set(before) - set(parts)),
            "changed": sorted(name for name in set(parts) & set(before) if parts[name] != before[name]),
            "parts": parts,
        },
    )
    record_audit(engine, [entry])
    return entry
