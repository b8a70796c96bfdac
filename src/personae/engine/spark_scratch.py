"""A Spark engine's scratch: the views a step makes and the folders of results it materialised.

Spark reads lazily. A materialised result is a Parquet folder under the warehouse's ``_stage``
and a view over it, and any later view built on that view reads its files only when a job
runs. So the folder of a dropped result may still be read by a view that is left, and it
cannot go at once. Until 2026-12, none went before the engine closed: a run's every mapped
file and every step's intermediate results stayed on disk (or on the cluster's shared storage)
to the end.

:class:`StageScratch` keeps the names of the views the engine made (materialised results, views,
staged files, Arrow tables: scratch, as DuckDB's temporary tables and views are) and the folders
they read. A dropped result's folder is retired, and the retired folders are deleted as soon
as no scratch view is left, since only a scratch view can read them (stored tables are read
from their own folders). The pipeline drops a step's scratch when the step ends
(:func:`personae.pipeline.run_steps`), so each step's folders go with it; a file's load drops
its staged relations when it is stored, so ingest frees them file by file.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path


class StageScratch:
    """The scratch views of one engine and the ``_stage`` folders they read."""

    def __init__(self, stage: Path) -> None:
        self.stage = stage
        self._names: set[str] = set()
        self._folders: dict[str, Path] = {}
        self._retired: list[Path] = []

    @property
    def names(self) -> set[str]:
        """The scratch views now defined."""
        return set(self._names)

    def new_folder(self, name: str) -> Path:
        """A fresh folder (not yet written) for a result of ``name``."""
        return self.stage / f"{name}_{uuid.uuid4().hex[:8]}"

    def folder(self, name: str) -> Path | None:
        """The folder ``name`` reads, if it is a materialised result."""
        return self._folders.get(name)

    def made(self, name: str, folder: Path | None = None) -> None:
        """``name`` is (again) a scratch view, over ``folder`` if it is a materialised result.
        The folder a redefined name read before is retired: a view built on the old one may
        still read it."""
        self._names.add(name)
        self._retire(name)
        if folder is not None:
            self._folders[name] = folder

    def dropped(self, name: str) -> None:
        """``name`` is no view any more: its folder is retired, and the retired folders are
        deleted once no scratch view is left to read them (only a scratch view can)."""
        self._names.discard(name)
        self._retire(name)
        if not self._names:
            for folder in self._retired:
                shutil.rmtree(folder, ignore_errors=True)
            self._retired.clear()

    def _retire(self, name: str) -> None:
        """The folder ``name`` read, if any, waits to be deleted."""
        folder = self._folders.pop(name, None)
        if folder is not None:
            self._retired.append(folder)
