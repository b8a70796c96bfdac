"""What the fuzzy matcher compares, how it finds pairs, and where the link threshold lies.

One frozen, validated spec: ``[identity.fuzzy]`` in ``personae.toml`` and the settings of
:class:`~personae.identity.fuzzy.FuzzyMatcher` in Python are the same class. It is separate
from the Splink machinery in :mod:`personae.identity.fuzzy`.
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from pydantic import Field, model_validator
from sqlglot import exp

from personae.errors import FuzzySettingsError
from personae.identity.comparisons import COMPARISON_KINDS, DEFAULT_KINDS, IDENTIFIER_KIND, KEY
from personae.spec import Spec, did_you_mean

COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
NOT_COMPARED = ("source", "record_id", "updated_at", "attributes", "extra_ids", "_loaded_at", "_file", "_row")
"""``customer_records`` columns that say where a record came from, not who it describes."""

DEFAULT_COLUMNS = ("first_name", "last_name", "birth_date", "street", "city", "postcode", "phone")

DEFAULT_BLOCKING = (
    # Pairs of columns, so that no common value (a frequent surname, a big town) makes a
    # block quadratic in size; together they find ~99 % of Febrl 3's corrupted duplicates.
    "l.first_name = r.first_name and l.last_name = r.last_name",
    "l.first_name = r.last_name and l.last_name = r.first_name",
    "l.last_name = r.last_name and l.birth_date = r.birth_date",
    "l.first_name = r.first_name and l.birth_date = r.birth_date",
    "l.birth_date = r.birth_date and l.postcode = r.postcode",
    "l.birth_date = r.birth_date and l.city = r.city",
    "l.birth_date = r.birth_date and l.street = r.street",
    "l.street = r.street and l.postcode = r.postcode",
    "l.street = r.street and l.city = r.city",
    "l.first_name = r.first_name and l.postcode = r.postcode",
    "l.last_name = r.last_name and l.postcode = r.postcode",
    "l.first_name = r.first_name and l.city = r.city",
    "l.last_name = r.last_name and l.city = r.city",
    "l.phone = r.phone",
)


DEFAULT_TRAINING = (
    "l.first_name = r.first_name and l.last_name = r.last_name and l.postcode = r.postcode and l.city = r.city",
    "l.birth_date = r.birth_date",
)
"""Names in one place train birth dates, streets and phones; birth dates train the rest.

Splink's usual pair blocks on the names alone. Where names are common, a names block holds
far more namesakes than duplicates (872,809 pairs, 2,751 of them matches, in 100,000 demo
CRM records), and EM can take "same name, same town" for the match class: it then learnt a
birth-date exact-match m of 0.04 (the truth is 0.99) on one random seed and 0.86 on
another. Fixing postcode *and* city keeps the block mostly matches (3,242 pairs, 79 %
matches) and leaves no location column to learn there, since a postcode implies its city.
A training rule's terms over columns the records lack are dropped (:func:`narrowed_rule`)."""


PREDICTION_ONLY = ("threshold", "max_block_records")
"""Settings that only prediction reads: training learns the same model whatever they are."""


class FuzzySettings(Spec):
    """What to compare, how pairs are found, and where the link threshold lies.

    The defaults reach F1 ≥ 0.99 on the Febrl 3 benchmark (tests/identity/test_fuzzy.py).
    """

    enabled: bool = True
    """Whether the identity step matches customer records at all."""
    threshold: float = 0.95
    """Match probability at or above which a pair is a link."""
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    """Record columns compared with their default kind (``comparisons.DEFAULT_KINDS``)."""
    extra_columns: tuple[str, ...] = ()
    """Other columns, compared as identifiers (exact or one edit); each also blocks."""
    compare: dict[str, str] = Field(default_factory=dict)
    """Column -> comparison kind (``comparisons.COMPARISON_KINDS``), in order; when given, it
    is the whole list of compared columns and ``columns``/``extra_columns`` are left out.
    A column that is not one of ``customer_records``' own is read from its ``attributes``
    (a customers source keeps the columns it does not map there, by their own name)."""
    blocking: tuple[str, ...] = DEFAULT_BLOCKING
    """Splink blocking rules, SQL over ``l.`` and ``r.``: only pairs one of them finds are scored.

    Rules over columns that are not compared, or empty in the records, are skipped."""
    training: tuple[str, ...] = DEFAULT_TRAINING
    """Blocking rules EM trains over (each fixes the comparisons it blocks on and learns the
    others). Few, broad and independent rules train best; when none of them finds enough
    pairs, the prediction rules are used instead."""
    max_pairs_for_training: float = 1e6
    """Random pairs sampled to learn ``u``, and the cap on pairs per EM rule."""
    seed: int = 42
    """Seed of the random sample; same data and seed give the same model."""
    training_records: int = 300_000
    """Records the model is trained on: above this many, a seeded random sample of them, so
    that training costs the same at any size (prediction scores every record)."""
    max_block_records: int = 150
    """Prediction leaves out a blocking rule's blocks of more than this many records (their
    pairs grow as the square of the customer base; the rule's sister rules, blocking on rarer
    keys, find the duplicates among them): see :mod:`personae.identity.block_purging`.

    150 is the smallest cap that left every link of the 1M-customer demo world in place
    (100 lost one of 31,202); it scores 42M candidate pairs there where 300 scored 77M."""

    @model_validator(mode="after")
    def _check(self) -> FuzzySettings:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"fuzzy threshold {self.threshold} must lie strictly between 0 and 1")
        if self.training_records < 10_000:
            raise ValueError(
                f"training_records {self.training_records:,} is too few to find duplicates in; use ≥ 100000"
            )
        if self.max_block_records < 10:
            raise ValueError(
                f"max_block_records {self.max_block_records} would leave out the blocks duplicates are "
                "found in; use at least 10, and 100 or more on real data (150 by default; bench/block_cap.py "
                "shows what a smaller cap loses on a workspace)"
            )
        if self.max_pairs_for_training < 1000:
            raise ValueError(
                f"max_pairs_for_training {self.max_pairs_for_training:g} is too few to learn from; use ≥ 1e5"
            )
        self._check_comparisons()
        compared = self.compared_columns
        if len(set(compared)) != len(compared):
            raise ValueError(f"columns {list(compared)} repeat a name; name each column once")
        if not self.all_blocking:
            raise ValueError(
                "no blocking rules: give at least one, e.g. 'l.last_name = r.last_name and l.birth_date = r.birth_date'"
            )
        known = {*DEFAULT_KINDS, *compared}
        for rule in self.blocking:
            # A rule over a known column that is not compared is skipped when fitting, so
            # the default rules suit any choice of columns; an unknown name is a typo.
            stray = rule_columns(rule) - known
            if stray:
                raise ValueError(
                    f"blocking rule {rule!r} uses column(s) {sorted(stray)} that are not compared; "
                    "use compared columns, or compare the column too (identity.fuzzy.compare)"
                )
        return self

    def _check_comparisons(self) -> None:
        if self.compare and {"columns", "extra_columns"} & self.model_fields_set:
            raise ValueError(
                "give either compare (each column with its kind) or columns/extra_columns, not both; "
                "compare = { soc_sec_id = 'identifier' } says the same as extra_columns = ['soc_sec_id']"
            )
        for column in self.columns:
            if column not in DEFAULT_KINDS:
                raise ValueError(
                    f"columns: {column!r} has no default comparison{did_you_mean(column, DEFAULT_KINDS)}; "
                    f"columns with one are {', '.join(DEFAULT_KINDS)}. Give it a kind instead: "
                    f"compare = {{ {column} = 'identifier' }} (kinds: {', '.join(COMPARISON_KINDS)})"
                )
        for column in (*self.extra_columns, *self.compare):
            if not COLUMN_NAME.match(column) or column == KEY or column in NOT_COMPARED:
                raise ValueError(
                    f"compared column {column!r}: compare a customer record's attribute by its lower-case "
                    f"name, e.g. 'last_name' or 'soc_sec_id' (not {KEY!r} or {', '.join(NOT_COMPARED[:4])})"
                )
        for column, kind in self.compare.items():
            if kind not in COMPARISON_KINDS:
                raise ValueError(
                    f"compare.{column} = {kind!r}: unknown comparison kind{did_you_mean(kind, COMPARISON_KINDS)}; "
                    f"kinds are {', '.join(COMPARISON_KINDS)}"
                )

    @property
    def comparisons(self) -> dict[str, str]:
        """Each compared column with its comparison kind, in order."""
        if self.compare:
            return dict(self.compare)
        return {
            **{column: DEFAULT_KINDS[column] for column in self.columns},
            **dict.fromkeys(self.extra_columns, IDENTIFIER_KIND),
        }

    @property
    def compared_columns(self) -> tuple[str, ...]:
        """The compared columns, in order."""
        if self.compare:
            return tuple(self.compare)
        return (*self.columns, *self.extra_columns)

    @property
    def identifier_columns(self) -> tuple[str, ...]:
        """The compared columns of the ``identifier`` kind: each also blocks pairs."""
        return tuple(c for c, kind in self.comparisons.items() if kind == IDENTIFIER_KIND)

    @property
    def all_blocking(self) -> tuple[str, ...]:
        """``blocking`` plus an exact-match rule for each identifier column."""
        extra = tuple(f"l.{c} = r.{c}" for c in self.identifier_columns)
        return (*self.blocking, *(rule for rule in extra if rule not in self.blocking))

    def trained_dict(self) -> dict[str, Any]:
        """The settings a trained model depends on: :meth:`to_dict` without those that only
        steer prediction (``PREDICTION_ONLY``), so changing one of them keeps the model."""
        return {name: value for name, value in self.to_dict().items() if name not in PREDICTION_ONLY}

    def to_dict(self) -> dict[str, Any]:
        """The settings a saved model records (what it was trained with)."""
        return {
            "threshold": self.threshold,
            "compare": self.comparisons,
            "blocking": list(self.blocking),
            "training": list(self.training),
            "max_pairs_for_training": self.max_pairs_for_training,
            "seed": self.seed,
            "training_records": self.training_records,
            "max_block_records": self.max_block_records,
        }


def narrowed_rule(rule: str, columns: set[str]) -> str | None:
    """``rule`` without the ``and``-ed terms over columns outside ``columns``; None if none is left.

    >>> narrowed_rule("l.a = r.a and l.b = r.b and l.c = r.c", {"a", "c"})
    'l.a = r.a AND l.c = r.c'
    >>> narrowed_rule("l.a = r.a", {"b"}) is None
    True
    """
    if rule_columns(rule) <= columns:
        return rule
    parsed = sqlglot.parse_one(rule)
    terms = list(parsed.flatten()) if isinstance(parsed, exp.And) else [parsed]
    kept = [term.sql() for term in terms if {c.name for c in term.find_all(exp.Column)} <= columns]
    return " AND ".join(kept) if kept else None


def rule_columns(rule: str) -> set[str]:
    """The column names a blocking rule compares (``l.x`` and ``r.x`` give ``x``)."""
    try:
        parsed = sqlglot.parse_one(rule)
    except sqlglot.errors.ParseError as error:
        raise FuzzySettingsError(f"blocking rule {rule!r} is not valid SQL: {error}") from None
    names = set()
    for column in parsed.find_all(exp.Column):
        if column.table not in ("l", "r"):
            raise FuzzySettingsError(f"blocking rule {rule!r}: column {column.sql()!r} must be prefixed l. or r.")
        names.add(column.name)
    return names
