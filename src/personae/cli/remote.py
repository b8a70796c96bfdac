"""The CLI of the same machine reads through a running ``personae serve``.

DuckDB lets one process hold the store, so while the server runs, ``personae sql``,
``status``, ``profile``, ``segment add|remove``, ``sync`` and ``destinations`` from another shell ask the server instead
of opening the store:
fresh answers, no copy of the store. The server says where it listens and gives the CLI
its token in ``.personae/server.json`` (readable by the workspace's owner only); a
server's own errors come back as the same errors, on one line.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import fields
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from personae import errors
from personae.access import SERVER_FILE
from personae.activation.delivery import SyncResult
from personae.activation.state import DestinationStatus, SyncState
from personae.identity.views import Lineage, PersonView
from personae.rights.erasure import ErasureReceipt
from personae.segments.definitions import SegmentDefinition
from personae.status import ImportStatus, RunSummary, SourceStatus, WorkspaceStatus


class Remote:
    """A running server of this workspace, reached with its local admin token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    @classmethod
    def of(cls, root: Path) -> Remote | None:
        """The server holding the workspace, if one runs on this machine."""
        try:
            about = json.loads((root / SERVER_FILE).read_text(encoding="utf-8"))
            os.kill(int(about["pid"]), 0)
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None
        return cls(str(about["url"]), str(about["token"]))

    def _call(self, path: str, body: dict[str, Any] | None = None, *, method: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method or ("POST" if data else "GET"))
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as failed:
            raise _error(json.loads(failed.read() or b"{}"), failed.code) from None
        except urllib.error.URLError as failed:
            message = f"the server at {self.url} holds the workspace but does not answer: {failed}"
            raise errors.StoreLockedError(message) from None

    def sql(self, query: str) -> pa.Table:
        answer = self._call("/v1/admin/sql", {"query": query})
        columns = answer["columns"]
        return pa.Table.from_pylist(answer["rows"]) if answer["rows"] else pa.table({c: [] for c in columns})

    def status(self) -> WorkspaceStatus:
        answer = self._call("/v1/admin/status")
        last = answer.get("last_run")
        return WorkspaceStatus(
            sources=[SourceStatus(**item) for item in answer["sources"]],
            tables=dict(answer["tables"]),
            last_run=RunSummary(**last) if last else None,
            customers=int(answer.get("customers", 0)),
            anonymous=int(answer.get("anonymous", 0)),
            imports=[ImportStatus(**item) for item in answer.get("imports", [])],
        )

    def profile(self, identifier: str) -> PersonView:
        answer = self._call(f"/v1/profiles/{urllib.parse.quote(identifier, safe=':@+')}")
        golden = {
            name: Lineage(**value) if isinstance(value, dict) and set(value) == {"value", "source", "at"} else value
            for name, value in answer["golden"].items()
        }
        known = {field.name for field in fields(PersonView)}
        return PersonView(**{**{k: v for k, v in answer.items() if k in known}, "golden": golden})

    def add_segment(self, name: str, rule: str, *, description: str = "") -> SegmentDefinition | None:
        answer = self._call("/v1/admin/segments", {"name": name, "rule": rule, "description": description})
        return _definition(answer["added"]) if answer["added"] else None

    def remove_segment(self, name: str) -> SegmentDefinition:
        return _definition(self._call(f"/v1/admin/segments/{urllib.parse.quote(name, safe='')}", method="DELETE"))

    def sync(self, destination: str | None) -> list[SyncResult]:
        answer = self._call("/v1/admin/sync", {"destination": destination})
        return [SyncResult(**result) for result in answer["results"]]

    def destinations(self) -> list[DestinationStatus]:
        answer = self._call("/v1/admin/destinations")
        return [DestinationStatus(**{**item, "state": SyncState(**item["state"])}) for item in answer["destinations"]]

    def erase(self, identifiers: list[str]) -> list[ErasureReceipt]:
        answer = self._call("/v1/admin/privacy/erase", {"identifiers": identifiers})
        return [ErasureReceipt(**receipt) for receipt in answer["receipts"]]

    def export_subject(self, identifier: str) -> dict[str, Any]:
        return dict(self._call("/v1/admin/privacy/export", {"identifier": identifier}))

    def dead_letters(self, destination: str) -> list[dict[str, Any]]:
        answer = self._call(f"/v1/admin/destinations/{urllib.parse.quote(destination, safe='')}/dead-letters")
        return list(answer["dead_letters"])

    def audit(self, *, since: date | None, action: str | None, limit: int) -> list[dict[str, Any]]:
        query = {
            "limit": limit,
            **({"since": since.isoformat()} if since else {}),
            **({"action": action} if action else {}),
        }
        return list(self._call("/v1/admin/audit?" + urllib.parse.urlencode(query))["entries"])


def _definition(answer: dict[str, Any]) -> SegmentDefinition:
    return SegmentDefinition(**{**answer, "created_at": datetime.fromisoformat(str(answer["created_at"]))})


def _error(body: dict[str, Any], status: int) -> errors.PersonaeError:
    """The server's error as the error it was (its class is the ``code``), else a usage error."""
    kind = getattr(errors, str(body.get("code", "")), None)
    message = str(body.get("error") or f"the server answered {status}")
    if isinstance(kind, type) and issubclass(kind, errors.PersonaeError) and kind is not errors.EngineError:
        return kind(message)
    return errors.UsageError(message)
