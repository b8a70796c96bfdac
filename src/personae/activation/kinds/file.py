"""The ``file`` destination: deltas and a full snapshot as CSV, Parquet or JSON lines.

Each batch becomes one delta file named after what it holds (the sequence range of its
membership changes, or a hash of its keys for trait states), written to ``.partial`` and
renamed, so a batch sent again after a crash overwrites the same file with the same rows
instead of adding a second copy. The snapshot (every current member and every person's
current values) is rewritten the same way at the end of each sync.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from pydantic import Field

from personae.activation.destination import DeliveryContext, DestinationKind, Sent, Snapshot
from personae.activation.feed import ChangeBatch
from personae.activation.specs import DestinationSpec
from personae.errors import DestinationError

FileFormat = Literal["parquet", "csv", "jsonl"]


class FileDestinationSpec(DestinationSpec):
    kind: Literal["file"]
    path: str
    """The folder to write to (relative to the workspace, or absolute)."""
    format: FileFormat = "parquet"
    deltas: bool = True
    """Write each batch of changes as a file under ``deltas/``."""
    snapshot: bool = True
    """Rewrite ``snapshot/`` with the whole current state after each sync."""
    batch_size: int = Field(1_000_000, ge=1)


def write_table(table: pa.Table, path: Path, file_format: FileFormat) -> None:
    """Write ``table`` to ``path`` whole or not at all (``.partial``, then a rename)."""
    partial = path.with_name(path.name + ".partial")
    if file_format == "parquet":
        pq.write_table(table, partial)
    elif file_format == "csv":
        pa_csv.write_csv(table, partial)
    else:
        with duckdb.connect() as connection:
            connection.register("_rows", table)
            target = str(partial).replace("'", "''")
            connection.execute(f"COPY _rows TO '{target}' (FORMAT JSON)")
    partial.replace(path)


class FileDestination:
    def __init__(self, spec: FileDestinationSpec, context: DeliveryContext) -> None:
        self.spec = spec
        folder = Path(spec.path)
        self.folder = folder if folder.is_absolute() else context.root / folder

    def open(self) -> None:
        try:
            for name in ("deltas", "snapshot"):
                (self.folder / name).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DestinationError(
                f"destination {self.spec.name!r}: cannot write to {self.folder} ({error.strerror}); "
                "give a folder personae may write in its 'path'"
            ) from None

    def _write(self, table: pa.Table, name: str) -> None:
        try:
            write_table(table, self.folder / name, self.spec.format)
        except OSError as error:
            raise DestinationError(f"destination {self.spec.name!r}: cannot write {name}: {error}") from None

    def send(self, batch: ChangeBatch) -> Sent:
        if not self.spec.deltas:
            return Sent()
        suffix = self.spec.format
        if batch.memberships is not None and batch.memberships.num_rows:
            sequences = batch.memberships.column("sequence")
            first, last = sequences[0].as_py(), sequences[-1].as_py()
            name = f"memberships-{first:012d}-{last:012d}"
            if batch.consent:  # a consent gate's changes, at the cursor: named apart from the feed's
                keys = "\n".join(batch.memberships.column("key").to_pylist())
                name += f"-consent-{hashlib.sha256(keys.encode()).hexdigest()[:16]}"
            self._write(batch.memberships, f"deltas/{name}.{suffix}")
        for part, table in batch.states.items():
            if table.num_rows:
                keys = "\n".join(table.column("key").to_pylist())
                digest = hashlib.sha256(keys.encode()).hexdigest()[:16]
                self._write(table.drop_columns(["digest"]), f"deltas/{part}-{digest}.{suffix}")
        return Sent()

    def finish(self, snapshot: Snapshot) -> None:
        if not self.spec.snapshot:
            return
        if self.spec.selected_segments():
            self._write(snapshot.memberships(), f"snapshot/memberships.{self.spec.format}")
        for part, table in snapshot.states().items():
            self._write(table, f"snapshot/{part}.{self.spec.format}")

    def forget(self, uids: list[str], request_id: str) -> str:
        """Rewrite every delta and snapshot file without these people, and list them under
        ``deletions/`` for whoever reads the folder."""
        rewritten = removed = 0
        listed = pa.array(uids, pa.string())
        for folder in ("deltas", "snapshot"):
            for path in sorted((self.folder / folder).glob(f"*.{self.spec.format}")):
                table = read_table(path, self.spec.format)
                if "uid" not in table.column_names:
                    continue
                keep = pc.invert(pc.is_in(table.column("uid"), value_set=listed))
                kept = table.filter(keep)
                if kept.num_rows < table.num_rows:
                    self._write(kept, f"{folder}/{path.name}")
                    rewritten, removed = rewritten + 1, removed + table.num_rows - kept.num_rows
        (self.folder / "deletions").mkdir(parents=True, exist_ok=True)
        notice = pa.table({"uid": listed, "request_id": pa.array([request_id] * len(uids), pa.string())})
        self._write(notice, f"deletions/erasure-{request_id}.{self.spec.format}")
        return f"{removed} rows taken out of {rewritten} files; deletions/erasure-{request_id}.{self.spec.format}"

    def close(self) -> None:
        return None


def read_table(path: Path, file_format: FileFormat) -> pa.Table:
    """A file :func:`write_table` wrote."""
    if file_format == "parquet":
        return pq.read_table(path)
    if file_format == "csv":
        return pa_csv.read_csv(path)
    with duckdb.connect() as connection:
        quoted = str(path).replace("'", "''")
        return connection.sql(f"SELECT * FROM read_json_auto('{quoted}')").to_arrow_table()


KIND = DestinationKind(FileDestinationSpec, FileDestination)
