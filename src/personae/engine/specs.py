"""Engine settings (``[engine.duckdb]``, ``[engine.spark]`` in ``personae.toml``)."""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator

from personae.spec import Spec

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")


def machine_memory() -> int:
    """The machine's physical memory in bytes, of which each engine's default takes a share."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


MEMORY_SHARE = 0.5
"""The share of the machine's memory a DuckDB connection may use when ``memory_limit`` is
not set. DuckDB's own default is 80 % per connection, and the identity step runs two (the
store and the fuzzy matcher's): measured at 300k customers it peaked at 5.0 GB, the fuzzy
connection holding most of it with no limit reaching it (issue 18)."""


def default_memory_limit() -> str:
    """:data:`MEMORY_SHARE` of the machine's memory, as DuckDB takes it (``"11771MB"``)."""
    return f"{int(machine_memory() * MEMORY_SHARE) // 2**20}MB"


class DuckDBSettings(Spec):
    path: str = "personae.duckdb"
    memory_limit: str | None = None
    """Memory DuckDB may use, per connection (``"3GB"``); unset: half the machine's memory."""
    temp_directory: str = ".personae/duckdb-tmp"
    """Where DuckDB spills what does not fit (relative to the workspace, or absolute)."""
    threads: int | None = Field(None, ge=1)


MASTER_FORMS = {
    "local": re.compile(r"^local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?$"),
    "standalone": re.compile(r"^spark://[^\s/:,]+:[0-9]{1,5}(,[^\s/:,]+:[0-9]{1,5})*$"),
    "connect": re.compile(r"^sc://[^\s/:]+(:[0-9]{1,5})?(/;[^\s]*)?$"),
}
"""The masters personae runs on: local mode (``local``, ``local[4]``, ``local[*]``), a
standalone cluster (``spark://host:7077``, several masters comma-separated for standby) and
Spark Connect (``sc://host:15002``, with ``/;key=value`` parameters)."""


def master_form(master: str) -> str:
    """Which of :data:`MASTER_FORMS` ``master`` is (``local``, ``standalone``, ``connect``)."""
    for form, pattern in MASTER_FORMS.items():
        if pattern.match(master):
            return form
    raise ValueError(
        f"master = {master!r} is not a Spark master personae runs on; use local mode "
        "('local[2]', 'local[*]'), a standalone cluster ('spark://host:7077') or Spark Connect "
        "('sc://host:15002')"
    )


class SparkSettings(Spec):
    master: str = "local[2]"
    """``local[N]``, ``spark://host:port`` or ``sc://host:port`` (:data:`MASTER_FORMS`)."""
    warehouse: str = "spark-warehouse"
    shuffle_partitions: int = Field(4, ge=1)
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("master")
    @classmethod
    def _known_master(cls, value: str) -> str:
        master_form(value)
        return value


class EngineSettings(Spec):
    duckdb: DuckDBSettings = DuckDBSettings()
    spark: SparkSettings = SparkSettings()
