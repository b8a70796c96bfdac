"""Real disk faults for tests: a small tmpfs that can be filled or remounted read-only.

Simulating ENOSPC with a mock proves only that the mock raises; a tmpfs shows what DuckDB,
pyarrow and the kernel really do when the disk is full or read-only. Mounting needs root
or CAP_SYS_ADMIN; where it is not permitted the test is skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

FILLER = ".filler"


def mount_tmpfs(folder: Path, size: str) -> Path:
    """Mount a tmpfs of ``size`` (``"8m"``) on ``folder``; skips the test where mount is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "a real full or read-only disk needs `mount -t tmpfs` (root or CAP_SYS_ADMIN), "
            f"which is refused here: {mounted.stderr.strip() or mounted.returncode}"
        )
    return folder


def unmount(folder: Path) -> None:
    """Unmount, lazily if a file on it is still open, so a failed test never leaves a mount behind."""
    if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` until ``leave`` bytes are free (tmpfs counts whole pages)."""
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize
    with (folder / FILLER).open("ab") as handle:
        handle.write(b"\0" * max(0, free - leave))
    assert free_bytes(folder) <= leave + stats.f_frsize


def free_bytes(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def empty_filler(folder: Path) -> None:
    (folder / FILLER).unlink(missing_ok=True)


def remount_read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True, check=True)
