"""Probabilistic matching of customer records with Splink (Fellegi–Sunter, unsupervised).

Records that share no identifier can still be the same person: a name with a typo, the
same birth date, the street spelt differently. :class:`FuzzyMatcher` learns from the
records themselves how much each kind of agreement counts, then scores the pairs that
the blocking rules generate:

- ``u`` (how often two different people agree by chance) from a seeded random sample;
- ``m`` (how often one person's records agree) by EM over each blocking rule that finds
  enough pairs;
- the prior (how likely two random records match) as the fixed point of
  :func:`matching_prior` over the blocked pairs.

    matcher = FuzzyMatcher().fit(records)          # Arrow, unique string record_key
    links = matcher.predict(records)               # record_key_l, record_key_r, …
    matcher.save(path); FuzzyMatcher.load(path)    # JSON: Splink model + our settings

Values are cleaned first (:mod:`personae.identity.comparisons`), so callers can pass
raw-ish values. Training runs DuckDB on one thread, so the same data and seed give the
same parameters to the last bit. The Splink backend is chosen in :func:`database_api`.

Errors::

    PersonaeError
    ├── FuzzyInputError (ValueError)     records are unusable (names the column and fix)
    ├── FuzzySettingsError (ValueError)  a FuzzySettings value is invalid
    ├── FuzzyTrainingError               too little data to learn from; what to do
    └── FuzzyModelError                  not fitted yet, or a saved model cannot be read
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from scipy import special
from splink import Linker, SettingsCreator
from splink.blocking_analysis import count_comparisons_from_blocking_rules
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.exceptions import SplinkException
from splink.internals.splink_dataframe import SplinkDataFrame
from sqlglot import exp

from personae.errors import PersonaeError
from personae.identity.comparisons import (
    COLUMN_RULES,
    KEY,
    FuzzyInputError,
    explanation,
    model_columns,
    neutralise_untrained,
    prepare_records,
    rule_for,
    settings_for_dialect,
)

__all__ = [
    "DEFAULT_BLOCKING",
    "DEFAULT_COLUMNS",
    "FuzzyInputError",
    "FuzzyMatcher",
    "FuzzyModelError",
    "FuzzySettings",
    "FuzzySettingsError",
    "FuzzyTrainingError",
]

Backend = Literal["duckdb", "spark"]

MIN_RECORDS = 20
"""Fewer records than this cannot give Splink enough pairs to learn from."""

MAX_EM_ITERATIONS = 50
"""EM that has not settled after this many rounds is reported as not converging."""

MIN_TRAINING_PAIRS = 100
"""A blocking rule must find this many pairs to be used for EM training."""

MAX_COUNTED_RECORDS = 100_000
"""Above this many records, rules' pairs are counted on a (deterministic) sample."""

MAX_PRIOR_ITERATIONS = 500
"""Cap on the fixed-point iterations of :func:`matching_prior` (it settles in tens)."""

MODEL_FORMAT = "personae.fuzzy/1"


logger = logging.getLogger(__name__)


class FuzzySettingsError(ValueError, PersonaeError):
    """A :class:`FuzzySettings` value is invalid (names the field and the fix)."""


class _Underflow(Exception):
    """EM over one blocking rule drove an m probability to zero."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(rule)
        self.rule, self.reason = rule, reason


class FuzzyTrainingError(PersonaeError):
    """The records are too few or too uniform to learn a matching model from."""


class FuzzyModelError(PersonaeError):
    """The matcher is not fitted, or a saved model cannot be read."""


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
    "l.street = r.street and l.postcode = r.postcode",
    "l.street = r.street and l.city = r.city",
    "l.first_name = r.first_name and l.postcode = r.postcode",
    "l.last_name = r.last_name and l.postcode = r.postcode",
    "l.first_name = r.first_name and l.city = r.city",
    "l.last_name = r.last_name and l.city = r.city",
    "l.phone = r.phone",
)


@dataclass(frozen=True)
class FuzzySettings:
    """What to compare, how pairs are found, and where the link threshold lies.

    The defaults reach F1 ≥ 0.99 on the Febrl 3 benchmark (tests/identity/test_fuzzy.py).
    """

    threshold: float = 0.95
    """Match probability at or above which a pair is a link."""
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    """Record columns compared with their own comparison (see ``comparisons.COLUMN_RULES``)."""
    extra_columns: tuple[str, ...] = ()
    """Other columns, compared as identifiers (exact or a typo or two); each also blocks."""
    blocking: tuple[str, ...] = DEFAULT_BLOCKING
    """Splink blocking rules, SQL over ``l.`` and ``r.``: only pairs one of them finds are scored.

    Rules over columns that are not compared, or empty in the records, are skipped."""
    max_pairs_for_training: float = 1e6
    """Random pairs sampled to learn ``u``, and the cap on pairs per EM rule."""
    seed: int = 42
    """Seed of the random sample; same data and seed give the same model."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise FuzzySettingsError(f"fuzzy threshold {self.threshold} must lie strictly between 0 and 1")
        if self.max_pairs_for_training < 1000:
            raise FuzzySettingsError(
                f"max_pairs_for_training {self.max_pairs_for_training:g} is too few to learn from; use ≥ 1e5"
            )
        unknown = [c for c in self.columns if c not in COLUMN_RULES]
        if unknown:
            raise FuzzySettingsError(
                f"no comparison is defined for column(s) {unknown}; known columns are "
                f"{sorted(COLUMN_RULES)}. Compare other columns with extra_columns=(...)"
            )
        compared = self.compared_columns
        if len(set(compared)) != len(compared) or KEY in compared:
            raise FuzzySettingsError(
                f"columns {list(compared)} repeat a name or include {KEY!r}; name each column once"
            )
        if not self.all_blocking:
            raise FuzzySettingsError(
                "no blocking rules: give at least one, e.g. 'l.last_name = r.last_name and l.birth_date = r.birth_date'"
            )
        known = {*COLUMN_RULES, *self.extra_columns}
        for rule in self.blocking:
            # A rule over a known column that is not compared is skipped when fitting, so
            # the default rules suit any choice of columns; an unknown name is a typo.
            stray = rule_columns(rule) - known
            if stray:
                raise FuzzySettingsError(
                    f"blocking rule {rule!r} uses unknown column(s) {sorted(stray)}; use compared "
                    "columns, or add the column to extra_columns"
                )

    @property
    def compared_columns(self) -> tuple[str, ...]:
        """``columns`` then ``extra_columns``."""
        return (*self.columns, *self.extra_columns)

    @property
    def all_blocking(self) -> tuple[str, ...]:
        """``blocking`` plus an exact-match rule for each extra column."""
        extra = tuple(f"l.{c} = r.{c}" for c in self.extra_columns)
        return (*self.blocking, *(rule for rule in extra if rule not in self.blocking))

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values."""
        return {
            "threshold": self.threshold,
            "columns": list(self.columns),
            "extra_columns": list(self.extra_columns),
            "blocking": list(self.blocking),
            "max_pairs_for_training": self.max_pairs_for_training,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FuzzySettings:
        """Settings from :meth:`to_dict` output; unknown keys are an error."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise FuzzySettingsError(f"unknown fuzzy setting(s) {unknown}; known: {[f.name for f in fields(cls)]}")
        tuples = {k: tuple(v) for k, v in values.items() if k in ("columns", "extra_columns", "blocking")}
        return cls(**{**values, **tuples})


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


def database_api(backend: Backend, spark: Any = None, *, exact: bool = False) -> DatabaseAPISubClass:
    """The Splink database API of ``backend``; the one place the backend is chosen.

    ``exact`` runs DuckDB on one thread: sums over many rows then add up in the same
    order every time, so training gives bit-identical parameters from the same data.
    """
    if backend == "duckdb":
        from splink.backends.duckdb import DuckDBAPI

        connection = duckdb.connect(":memory:", config={"threads": 1}) if exact else duckdb.connect()
        return DuckDBAPI(connection)
    if backend == "spark":
        from splink.backends.spark import SparkAPI, similarity_jar_location

        # Splink's string similarities (jaro_winkler, damerau_levenshtein) are Scala UDFs
        # in a jar shipped with Splink; adding it here spares the session any set-up.
        spark.sql(f"ADD JAR {similarity_jar_location()}")
        # Splink cuts long lineages by checkpointing to the session's checkpoint folder;
        # a session without one keeps those intermediate tables in memory instead.
        lineage = None if spark.sparkContext.getCheckpointDir() else "persist"
        return SparkAPI(spark_session=spark, break_lineage_method=lineage)  # type: ignore[no-untyped-call]  # Splink leaves it untyped
    raise FuzzySettingsError(f"unknown backend {backend!r}; use 'duckdb' or 'spark'")


@contextmanager
def quiet_splink() -> Iterator[None]:
    """Hold back Splink's progress logging (INFO and WARNING) for the block only."""
    splink_logger = logging.getLogger("splink")
    level = splink_logger.level
    splink_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        splink_logger.setLevel(level)


class FuzzyMatcher:
    """Fellegi–Sunter record matcher: ``fit`` learns weights, ``predict`` scores pairs.

    Fitted state: ``model_``, Splink's model (settings and parameters) as a JSON-ready dict.
    """

    def __init__(
        self,
        settings: FuzzySettings = FuzzySettings(),
        *,
        backend: Backend = "duckdb",
        spark: Any = None,
    ) -> None:
        if backend not in ("duckdb", "spark"):
            raise FuzzySettingsError(f"unknown fuzzy backend {backend!r}; use 'duckdb' or 'spark'")
        if backend == "spark" and spark is None:
            raise FuzzySettingsError(
                "backend 'spark' needs a SparkSession: FuzzyMatcher(backend='spark', spark=session)"
            )
        self.settings = settings
        self.backend: Backend = backend
        self.spark = spark
        self.model_: dict[str, Any] | None = None

    # -- fitting ---------------------------------------------------------------------

    def fit(self, records: pa.Table) -> FuzzyMatcher:
        """Learn ``u`` by seeded random sampling and ``m`` by EM over the blocking rules."""
        columns = self.settings.compared_columns
        table = prepare_records(records, columns, self.settings.extra_columns)
        if table.num_rows < MIN_RECORDS:
            raise FuzzyTrainingError(
                f"fuzzy matching needs at least {MIN_RECORDS} records to learn from, got "
                f"{table.num_rows}; fit on more records (all of customer_records), or turn fuzzy matching "
                "off (fuzzy = { enabled = false } under [identity] in personae.toml)"
            )
        used = tuple(c for c in columns if table.column(c).null_count < table.num_rows)
        if len(used) < 2:
            raise FuzzyTrainingError(
                f"fuzzy matching needs at least two compared columns with values, but only "
                f"{list(used)} of {list(columns)} have any; map more columns into customer_records"
            )
        rules = [r for r in self.settings.all_blocking if rule_columns(r) <= set(used)]
        if not rules:
            raise FuzzyTrainingError(
                f"every blocking rule uses a column that is not compared or is empty in these "
                f"records (usable: {list(used)}); add a blocking rule over columns that have values"
            )
        creator = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[rule_for(c, extra=c in self.settings.extra_columns).comparison(c) for c in used],
            blocking_rules_to_generate_predictions=[{"blocking_rule": rule} for rule in rules],
            unique_id_column_name=KEY,
            retain_matching_columns=False,
            max_iterations=MAX_EM_ITERATIONS,
        )
        skipped: set[str] = set()
        while True:
            with self._linker(table, creator, exact=True) as (linker, frame):
                usable = [rule for rule in training_rules(frame, rules, table.num_rows) if rule not in skipped]
                if not usable:
                    raise FuzzyTrainingError(
                        "EM drove a level's m probability to zero over every blocking rule; use more "
                        "records, or blocking rules that find more pairs"
                    )
                try:
                    self.model_ = self._train(linker, usable, table.num_rows)
                except _Underflow as underflow:
                    logger.info("EM over blocking rule %r left out: %s", underflow.rule, underflow.reason)
                    skipped.add(underflow.rule)
                    continue
            return self

    def _train(self, linker: Linker, rules: list[str], count: int) -> dict[str, Any]:
        training = linker.training
        try:
            training.estimate_u_using_random_sampling(
                max_pairs=self.settings.max_pairs_for_training, seed=self.settings.seed
            )
            for rule in rules:
                try:
                    session = training.estimate_parameters_using_expectation_maximisation(
                        rule, max_pairs=self.settings.max_pairs_for_training
                    )
                except ValueError as error:
                    # Splink raises ValueError when EM drives an m probability to 0; the
                    # session leaves the linker half-updated, so training restarts without it.
                    raise _Underflow(rule, str(error)) from error
                # Splink keeps each iteration's parameters; a full history means EM
                # stopped at max_iterations without settling.
                if len(session._core_model_settings_history) > MAX_EM_ITERATIONS:
                    raise FuzzyTrainingError(
                        f"EM over blocking rule {rule!r} did not converge in {MAX_EM_ITERATIONS} "
                        "iterations; the pairs it finds are too few or too alike. Use more "
                        "records, or a blocking rule that finds more pairs"
                    )
        except SplinkException as error:
            raise FuzzyTrainingError(
                f"Splink could not train on these records: {error}. Use more records, or "
                "blocking rules that find more pairs"
            ) from error
        model = linker.misc.save_model_to_json()
        model.pop("linker_uid", None)  # a random id Splink draws per linker
        neutral = neutralise_untrained(model)
        if neutral:
            logger.warning("no training data for %s: given a neutral weight", "; ".join(neutral))
        # The blocked pairs' match weights, binned, give the prior (see matching_prior).
        blocked = linker.inference.predict(warning_mode="never").query_sql(
            "select round(match_weight, 3) as match_weight, count(*) as pairs "
            "from {this} group by round(match_weight, 3)"
        )
        histogram = arrow(blocked).sort_by("match_weight")
        model["probability_two_random_records_match"] = matching_prior(
            histogram.column("match_weight").to_numpy(),
            histogram.column("pairs").to_numpy(),
            prior=float(model["probability_two_random_records_match"]),
            all_pairs=count * (count - 1) / 2,
        )
        return model

    # -- using the model ------------------------------------------------------------

    def predict(self, records: pa.Table) -> pa.Table:
        """Scored pairs at or above the threshold, sorted by keys (``record_key_l`` < ``_r``)."""
        model = self._fitted()
        table = prepare_records(records, model_columns(model), self.settings.extra_columns)
        threshold = self.settings.threshold
        with self._linker(table, model) as (linker, _):
            scored = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
            pairs = arrow(scored).select([f"{KEY}_l", f"{KEY}_r", "match_probability", "match_weight"])
        pairs = pairs.filter(pc.greater_equal(pairs["match_probability"], threshold))
        swap = pc.greater(pairs[f"{KEY}_l"], pairs[f"{KEY}_r"])
        left = pc.if_else(swap, pairs[f"{KEY}_r"], pairs[f"{KEY}_l"])
        right = pc.if_else(swap, pairs[f"{KEY}_l"], pairs[f"{KEY}_r"])
        result = pa.table(
            {
                f"{KEY}_l": pc.cast(left, pa.string()),
                f"{KEY}_r": pc.cast(right, pa.string()),
                "match_probability": pc.cast(pairs["match_probability"], pa.float64()),
                "match_weight": pc.cast(pairs["match_weight"], pa.float64()),
            }
        )
        return result.sort_by([(f"{KEY}_l", "ascending"), (f"{KEY}_r", "ascending")])

    def explain(self, records: pa.Table, key_l: str, key_r: str) -> list[dict[str, Any]]:
        """Why two records score as they do: the prior, one row per comparison, the total.

        Each row has ``name``, ``level`` (the comparison level's label) and
        ``match_weight`` (log2 Bayes factor, term-frequency adjustment included); the
        weights of all rows but the last add up to the last (``name == "total"``).
        """
        model = self._fitted()
        table = prepare_records(records, model_columns(model), self.settings.extra_columns)
        keys = table.column(KEY)
        rows = {}
        for key in (key_l, key_r):
            found = table.filter(pc.equal(keys, key))
            if found.num_rows == 0:
                raise FuzzyInputError(f"no record has {KEY} {key!r}; pass records that contain it")
            rows[key] = found
        with self._linker(table, model) as (linker, frame):
            left = frame.db_api.register(rows[key_l])
            right = frame.db_api.register(rows[key_r])
            scored = linker.inference.score_pair(left, right).as_record_list()[0]
        return explanation(model, scored)

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the fitted model as JSON (Splink model, our settings, versions)."""
        document = {
            "format": MODEL_FORMAT,
            "personae_version": version("personae"),
            "splink_version": version("splink"),
            "settings": self.settings.to_dict(),
            "splink_model": self._fitted(),
        }
        Path(path).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, *, backend: Backend = "duckdb", spark: Any = None) -> FuzzyMatcher:
        """Read a model written by :meth:`save`."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FuzzyModelError(f"fuzzy model {path}: no such file; fit and save a model first") from None
        except json.JSONDecodeError as error:
            raise FuzzyModelError(f"fuzzy model {path}: not JSON ({error}); re-save the model") from None
        if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
            raise FuzzyModelError(
                f"fuzzy model {path}: not a personae fuzzy model (format {MODEL_FORMAT!r} expected); "
                "re-save it with FuzzyMatcher.save"
            )
        try:
            matcher = cls(FuzzySettings.from_dict(document["settings"]), backend=backend, spark=spark)
            matcher.model_ = dict(document["splink_model"])
            model_columns(matcher.model_)
        except (KeyError, TypeError) as error:
            raise FuzzyModelError(
                f"fuzzy model {path}: missing or malformed entry ({error!r}); re-save it with FuzzyMatcher.save"
            ) from None
        return matcher

    # -- plumbing --------------------------------------------------------------------

    def _fitted(self) -> dict[str, Any]:
        if self.model_ is None:
            raise FuzzyModelError("the fuzzy matcher is not fitted; call fit(records) or load(path) first")
        return self.model_

    @contextmanager
    def _linker(
        self, table: pa.Table, settings: SettingsCreator | dict[str, Any], *, exact: bool = False
    ) -> Iterator[tuple[Linker, SplinkDataFrame]]:
        db_api = database_api(self.backend, self.spark, exact=exact)
        try:
            with quiet_splink(), warnings.catch_warnings():
                # On Spark, pyspark warns (FutureWarning) "PySpark does not yet fully
                # support pandas >= 3.0.0" when Splink moves data through pandas.
                warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
                frame = db_api.register(table)
                if isinstance(settings, dict):
                    dialect = db_api.sql_dialect.sql_dialect_str
                    settings = settings_for_dialect(settings, dialect, self.settings.extra_columns)
                yield Linker(frame, settings, log_level=None), frame
        finally:
            if self.backend == "duckdb":
                db_api.duckdb_con.close()


def training_rules(frame: SplinkDataFrame, rules: list[str], count: int) -> list[str]:
    """The blocking rules that find enough pairs in ``frame`` to run EM over.

    A rule that finds few pairs (swapped names are rare) still generates pairs to score,
    but EM over a handful of pairs would not settle, or not at all over none.
    """
    proportion = min(1.0, MAX_COUNTED_RECORDS / max(count, 1))
    usable = []
    for rule in rules:
        with warnings.catch_warnings():
            # Over MAX_COUNTED_RECORDS Splink warns (UserWarning) "The sampled blocking
            # analysis estimate … may be unstable" for rules with few pairs: those are
            # the rules being left out, so the estimate is precise enough.
            warnings.filterwarnings("ignore", "The sampled blocking analysis estimate", UserWarning)
            (counted,) = count_comparisons_from_blocking_rules(
                frame,
                blocking_rules=rule,
                link_type="dedupe_only",
                unique_id_column_name=KEY,
                record_sample_proportion=proportion,
            )
        if counted["cumulative_comparison_count"] >= MIN_TRAINING_PAIRS:
            usable.append(rule)
    if not usable:
        raise FuzzyTrainingError(
            f"no blocking rule finds {MIN_TRAINING_PAIRS} pairs of these {count} records to learn "
            "from; fit on more records, or add a blocking rule that finds more pairs"
        )
    return usable


def arrow(frame: SplinkDataFrame) -> pa.Table:
    """A Splink result as an Arrow table, whichever backend holds it."""
    table: pa.Table = frame.as_pyarrow_table()  # type: ignore[no-untyped-call]  # untyped in Splink
    return table


def matching_prior(
    weights: npt.NDArray[np.float64], pairs: npt.NDArray[np.int64], *, prior: float, all_pairs: float
) -> float:
    """The probability that two random records match, as a fixed point over blocked pairs.

    ``weights`` are the match weights (log2 odds) of the blocked pairs scored with
    ``prior``, ``pairs`` how many pairs have each weight. The answer λ satisfies
    λ = (expected matches among the blocked pairs under λ) / ``all_pairs``, i.e. it
    assumes the blocking rules find (nearly) every match. Splink's own estimate from
    EM sessions breaks down when a training rule's pairs are nearly all matches.

    >>> round(matching_prior(np.array([20.0, -20.0]), np.array([10, 1000]), prior=0.5, all_pairs=1e4), 4)
    0.001
    """
    evidence = weights - math.log2(prior / (1 - prior))
    counts = pairs.astype(np.float64)
    floor = 0.5 / all_pairs  # half a match: "no duplicates" still gives a usable model
    estimate = max(float(counts.sum()) / all_pairs, floor)  # every blocked pair a match
    for _ in range(MAX_PRIOR_ITERATIONS):
        log_odds = math.log2(estimate / (1 - estimate))
        expected = float(np.dot(counts, special.expit((evidence + log_odds) * math.log(2))))
        updated = max(expected / all_pairs, floor)
        if abs(updated - estimate) <= 1e-9 * estimate:
            return updated
        estimate = updated
    return estimate
