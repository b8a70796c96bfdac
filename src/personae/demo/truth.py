"""The known truth beside the demo data, for scoring identity resolution and segments.

``truth/records.csv`` says which person each record belongs to (``source, record_id,
person_id``), for every record that carries an identifier: in-store receipts scanned with
a loyalty card, web-shop orders, web and subscription events, CRM records, e-mail
contacts and survey responses. Anonymous receipts are not listed: nothing in the data
could tie them to anyone.

``truth/people.csv`` has one row per person:

- planted behaviour: ``lifestyle``, ``churner`` and ``churned_at`` (no order on or after
  that day), ``loyalist``, ``promo_driven``, ``seasonal`` and ``season``,
  ``subscriber_state`` (none, trial, trial_expired, active, cancelled), ``survey_segment``,
  ``buyer`` (prospect, one_time, repeat), ``acquired_at`` and ``orders`` (every order,
  anonymous receipts included);
- true details: names, gender, birth date, street, city, postcode, country;
- identifiers: ``email``, ``phone`` (E.164), ``loyalty_card``, ``user_id``,
  ``anonymous_ids``, ``crm_ids`` (space-separated when several) and ``contact_id``.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from personae.demo.text import CsvFile, constant, slices

_SLICE = 500_000


class Truth:
    """Writes ``records.csv`` as sources are written and ``people.csv`` at the end."""

    def __init__(self, folder: Path, people: int) -> None:
        self.folder = folder
        self.people = people
        self._records = CsvFile(folder / "records.csv", ["source", "record_id", "person_id"])
        self._person_ids: pa.Array | None = None
        self._identifiers: dict[str, list[tuple[np.ndarray, pa.Array]]] = {}

    def set_person_ids(self, person_ids: pa.Array) -> None:
        self._person_ids = person_ids

    def add(self, source: str, record_ids: pa.Array, person: np.ndarray) -> None:
        """Record that ``record_ids`` of ``source`` belong to the people at ``person``."""
        if self._person_ids is None:
            raise RuntimeError("set_person_ids must be called before records are added")
        for start, stop in slices(len(person), _SLICE):
            owners = self._person_ids.take(pa.array(person[start:stop].astype(np.int64)))
            source_column = constant(source, stop - start)
            self._records.write([source_column, record_ids[start:stop], owners])

    def note(self, name: str, person: np.ndarray, values: pa.Array) -> None:
        """Remember identifier ``name`` of the people at ``person`` (several values of one
        person are joined with spaces in ``people.csv``)."""
        self._identifiers.setdefault(name, []).append((person.astype(np.int64), values))

    def identifiers(self, name: str) -> pa.Array:
        """The noted values of identifier ``name``, one (space-joined) entry per person."""
        parts = self._identifiers.get(name, [])
        if not parts:
            return pa.nulls(self.people, pa.string())
        person = np.concatenate([p for p, _ in parts])
        values = pa.concat_arrays([v.cast(pa.string()) for _, v in parts])
        order = np.argsort(person, kind="stable")
        person = person[order]
        values = values.take(pa.array(order))
        table = pa.table({"person": person, "value": values})
        grouped = table.group_by("person", use_threads=False).aggregate([("value", "list")])
        joined = pc.binary_join(grouped["value_list"], " ")
        result = pa.nulls(self.people, pa.string())
        where = grouped["person"].to_numpy()
        mask = np.zeros(self.people, dtype=bool)
        mask[where] = True
        ordered = joined.take(pa.array(np.argsort(where, kind="stable"))).combine_chunks()
        return pc.replace_with_mask(result, pa.array(mask), ordered)

    def write_people(self, columns: dict[str, pa.Array]) -> Path:
        path = self.folder / "people.csv"
        names = list(columns)
        with CsvFile(path, names) as out:
            for start, stop in slices(self.people, _SLICE):
                out.write([columns[name][start:stop] for name in names])
        return path

    @property
    def records_path(self) -> Path:
        return self._records.path

    def close(self) -> None:
        self._records.close()

    def __enter__(self) -> Truth:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
