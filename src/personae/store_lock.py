"""One writer per workspace: an exclusive lock file that names its holder.

The lock is an ``flock`` on ``.personae.lock`` in the workspace, so it is released when
the holding process ends, even by a crash. The file records who holds it (pid, command,
since) so a second writer gets a message naming the holder instead of a driver error.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO

from personae.errors import StoreLockedError

LOCK_FILE = ".personae.lock"


def describe_holder(path: Path) -> str:
    """Who holds the lock at ``path``, as recorded by the holder, and what to do about it (a
    server answers some commands itself)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, json.JSONDecodeError):
        return f"another process; {WAIT}"
    command = str(holder.get("command", "?"))
    advice = f"while it serves, {SERVED}" if command.startswith("personae serve") else WAIT
    return (
        f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
        f"({command}, since {holder.get('since', '?')}); {advice}"
    )


WAIT = "wait for it to finish or stop it, then try again"
SERVED = (
    "`personae sql`, `status`, `profile` and `segment add|remove` go through it, and a run is "
    "started with `POST /v1/admin/runs`; stop the server for other commands"
)


class StoreLock:
    """Hold the workspace's write lock for the life of a ``with`` block or until release().

    ``file`` and ``what`` let another folder of the workspace (the event journal) hold a
    lock of its own with the same guarantees and messages."""

    def __init__(
        self, root: Path, command: str | None = None, *, file: str = LOCK_FILE, what: str = "workspace"
    ) -> None:
        self.path = root / file
        self.what = what
        self.command = command or " ".join(["personae", *sys.argv[1:]])
        self._handle: IO[str] | None = None

    def acquire(self) -> StoreLock:
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreLockedError(
                f"{self.what} {self.path.parent} is held for writing by {describe_holder(self.path)}"
            ) from None
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(holder))
            handle.flush()
        except OSError as error:  # a full disk: say which file, and hold nothing
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            with contextlib.suppress(OSError):  # closing flushes the same unwritable bytes again
                handle.close()
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()
