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
same parameters to the last bit. Where Splink runs (the store's own DuckDB instance, or a private one) is
:mod:`personae.identity.fuzzy_backend`'s to say.

Errors are :class:`~personae.errors.FuzzyError` subclasses and
:class:`~personae.errors.FuzzySettingsError` (drawn in :mod:`personae.errors`).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError
from splink import Linker, SettingsCreator
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.exceptions import SplinkException
from splink.internals.splink_dataframe import SplinkDataFrame

from personae.errors import (
    FuzzyInputError,
    FuzzyModelError,
    FuzzyModelOutdated,
    FuzzySettingsError,
    FuzzyTrainingError,
)
from personae.identity.block_purging import for_prediction
from personae.identity.cleaning import prepare_records
from personae.identity.comparisons import KEY, comparison_for
from personae.identity.fuzzy_backend import Backend, quiet_splink, splink_api
from personae.identity.fuzzy_settings import (
    DEFAULT_BLOCKING,
    DEFAULT_COLUMNS,
    FuzzySettings,
    narrowed_rule,
    rule_columns,
)
from personae.identity.splink_model import (
    LINKS,
    MatchWeight,
    arrow,
    complete_untrained,
    explanation,
    link_pairs,
    model_columns,
    settings_for_dialect,
)
from personae.identity.training import (
    Underflow,
    matching_prior,
    refuse_every_pair_rules,
    training_rules,
    training_sample,
)

__all__ = ["DEFAULT_BLOCKING", "DEFAULT_COLUMNS", "FuzzyMatcher", "FuzzySettings"]

MIN_RECORDS = 20
"""Fewer records than this cannot give Splink enough pairs to learn from."""

MAX_EM_ITERATIONS = 50
"""EM that has not settled after this many rounds is reported as not converging."""

MODEL_FORMAT = "personae.fuzzy/3"
"""Version 3: comparison kinds per column (``compare``), a day-and-month-swapped date level."""

DETERMINISTIC_RECALL = 0.7
"""Share of all matches the deterministic rules are assumed to find (Splink's usual guess)."""

PREDICT_CHUNK_RECORDS = 250_000
"""Records per chunk of a prediction: each chunk's left records are paired with all records
and only its pairs at or above the threshold leave DuckDB, so neither DuckDB nor Python holds
every candidate pair at once. Each chunk joins against every record again, so chunks are
few and large (a 1.45M-profile world has about six)."""


logger = logging.getLogger(__name__)


class FuzzyMatcher:
    """Fellegi–Sunter record matcher: ``fit`` learns weights, ``predict`` scores pairs.

    Fitted state: ``model_``, Splink's model (settings and parameters) as a JSON-ready dict.
    """

    def __init__(
        self,
        settings: FuzzySettings | None = None,
        *,
        backend: Backend = "duckdb",
        spark: Any = None,
        phone_region: str = "US",
    ) -> None:
        if backend not in ("duckdb", "spark"):
            raise FuzzySettingsError(f"unknown fuzzy backend {backend!r}; use 'duckdb' or 'spark'")
        if backend == "spark" and spark is None:
            raise FuzzySettingsError(
                "backend 'spark' needs a SparkSession: FuzzyMatcher(backend='spark', spark=session)"
            )
        self.settings = settings if settings is not None else FuzzySettings()
        self.phone_region = phone_region
        """Region whose country code national phone numbers get (E.164, as at ingest)."""
        self.backend: Backend = backend
        self.spark = spark
        self.duckdb_config: dict[str, Any] = {}
        """The limits of the store this matcher works for (memory, spill folder), for a
        private DuckDB connection (when ``store`` is None)."""
        self.store: duckdb.DuckDBPyConnection | None = None
        """The store's DuckDB connection: when set (by the identity step), Splink runs on a
        cursor of its instance, under its one memory limit (:mod:`~personae.identity.fuzzy_backend`)."""
        self.chunk_records = PREDICT_CHUNK_RECORDS
        """Records per prediction chunk (:data:`PREDICT_CHUNK_RECORDS`)."""
        self.model_: dict[str, Any] | None = None

    # -- fitting ---------------------------------------------------------------------

    def fit(self, records: pa.Table) -> FuzzyMatcher:
        """Learn ``u`` by seeded random sampling and ``m`` by EM over the blocking rules."""
        columns = self.settings.compared_columns
        table = self._prepared(records, columns)
        kinds = self.settings.comparisons
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
        refuse_every_pair_rules(table, rules, self.duckdb_config, store=self.store)
        table = training_sample(table, self.settings.training_records, self.settings.seed)
        used_kinds = {c: kinds[c] for c in used}
        creator = SettingsCreator(
            link_type="dedupe_only",
            comparisons=[comparison_for(c, used_kinds) for c in used],
            blocking_rules_to_generate_predictions=[{"blocking_rule": rule} for rule in rules],
            unique_id_column_name=KEY,
            retain_matching_columns=False,
            max_iterations=MAX_EM_ITERATIONS,
        )
        skipped: set[str] = set()
        while True:
            with self._linker(table, creator, exact=True) as (linker, frame):
                narrowed = (narrowed_rule(r, set(used)) for r in self.settings.training)
                preferred = list(dict.fromkeys(r for r in narrowed if r is not None and r not in skipped))
                usable = training_rules(frame, preferred, table.num_rows, required=False) if preferred else []
                if not usable:
                    usable = [r for r in training_rules(frame, rules, table.num_rows) if r not in skipped]
                if not usable:
                    raise FuzzyTrainingError(
                        "EM drove a level's m probability to zero over every blocking rule; use more "
                        "records, or blocking rules that find more pairs"
                    )
                try:
                    self.model_ = self._train(linker, usable, table.num_rows)
                except Underflow as underflow:
                    logger.info("EM over blocking rule %r left out: %s", underflow.rule, underflow.reason)
                    skipped.add(underflow.rule)
                    continue
            return self

    def _train(self, linker: Linker, rules: list[str], count: int) -> dict[str, Any]:
        training = linker.training
        deterministic = self._deterministic_rules(linker)
        try:
            if deterministic:
                # Splink's usual prior: pairs that agree on name and birth date are matches,
                # and such rules find about 70 % of all matches.
                rules_for_prior: list[str | BlockingRuleCreator] = list(deterministic)
                training.estimate_probability_two_random_records_match(rules_for_prior, recall=DETERMINISTIC_RECALL)
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
                    raise Underflow(rule, str(error)) from error
                # Splink keeps each iteration's parameters; a full history means EM
                # stopped at max_iterations without settling.
                if len(session._core_model_settings_history) > MAX_EM_ITERATIONS:
                    raise FuzzyTrainingError(
                        f"EM over blocking rule {rule!r} did not converge in {MAX_EM_ITERATIONS} "
                        "iterations; the pairs it finds are too few or too alike. Use more "
                        "records, or a blocking rule that finds more pairs"
                    )
        except SplinkException as error:
            if isinstance(error.__cause__, duckdb.OutOfMemoryException):
                raise  # not the records' fault: the store's limits (personae.identity.matching says which)
            raise FuzzyTrainingError(
                f"Splink could not train on these records: {error}. Use more records, or "
                "blocking rules that find more pairs"
            ) from error
        model = linker.misc.save_model_to_json()
        model.pop("linker_uid", None)  # a random id Splink draws per linker
        untrained = complete_untrained(model, min(self.settings.max_pairs_for_training, count * (count - 1) / 2))
        if untrained:
            logger.info("no training data for %s: filled in (see complete_untrained)", "; ".join(untrained))
        if deterministic:
            return model
        # Without names and birth dates the blocked pairs' match weights give the prior.
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

    def _deterministic_rules(self, linker: Linker) -> list[str]:
        """Rules whose pairs are near-certain matches, over the columns this model compares."""
        compared = set(model_columns(linker.misc.save_model_to_json()))
        if not {"first_name", "last_name", "birth_date"} <= compared:
            return []
        extra = [f"l.{c} = r.{c}" for c in self.settings.identifier_columns if c in compared]
        return [
            "l.first_name = r.first_name and l.last_name = r.last_name and l.birth_date = r.birth_date",
            "l.first_name = r.last_name and l.last_name = r.first_name and l.birth_date = r.birth_date",
            *extra,
        ]

    # -- using the model ------------------------------------------------------------

    def predict(self, records: pa.Table) -> pa.Table:
        """Scored pairs at or above the threshold, sorted by keys (``record_key_l`` < ``_r``)."""
        chunks = list(self.predict_chunks(records))
        pairs = pa.concat_tables(chunks) if chunks else LINKS.empty_table()
        return pairs.sort_by([(f"{KEY}_l", "ascending"), (f"{KEY}_r", "ascending")])

    def predict_chunks(self, records: pa.Table) -> Iterator[pa.Table]:
        """The pairs at or above the threshold, one table per chunk of ``chunk_records`` left
        records (``record_key_l`` < ``_r`` within a pair; the chunks unsorted)."""
        model = self._fitted()
        table = self._prepared(records, model_columns(model))
        table, model = for_prediction(
            table, model, self.settings.max_block_records, config=self.duckdb_config, store=self.store
        )
        threshold = self.settings.threshold
        count = max(1, -(-table.num_rows // max(1, self.chunk_records)))
        with self._linker(table, model) as (linker, _):
            for chunk in range(1, count + 1):
                scored = linker.inference.predict_chunk(
                    left_chunk=(chunk, count),
                    right_chunk=(1, 1),
                    threshold_match_probability=threshold,
                    warning_mode="never",
                )
                columns = [f"{KEY}_l", f"{KEY}_r", "match_probability", "match_weight"]
                pairs = arrow(scored).select(columns)
                scored.drop_table_from_database_and_remove_from_cache()
                pairs = pairs.filter(pc.greater_equal(pairs["match_probability"], threshold))
                yield link_pairs(pairs)

    def explain(self, records: pa.Table, key_l: str, key_r: str) -> list[MatchWeight]:
        """Why two records score as they do: the prior, one row per comparison, the total.

        Each row has ``name``, ``level`` (the comparison level's label) and
        ``match_weight`` (log2 Bayes factor, term-frequency adjustment included); the
        weights of all rows but the last add up to the last (``name == "total"``).
        """
        model = self._fitted()
        table = self._prepared(records, model_columns(model))
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
        return explanation(model, scored, self.settings.comparisons)

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the fitted model as JSON (Splink model, our settings, versions)."""
        document = {
            "format": MODEL_FORMAT,
            "personae_version": version("personae"),
            "splink_version": version("splink"),
            "settings": {**self.settings.to_dict(), "phone_region": self.phone_region},
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
        found = document.get("format") if isinstance(document, dict) else None
        if isinstance(found, str) and found.startswith("personae.fuzzy/") and found != MODEL_FORMAT:
            raise FuzzyModelOutdated(
                f"fuzzy model {path}: format {found!r} was written by an older personae ({MODEL_FORMAT!r} "
                "now); fit the matcher again (the identity step retrains it by itself)"
            )
        if found != MODEL_FORMAT:
            raise FuzzyModelError(
                f"fuzzy model {path}: not a personae fuzzy model (format {MODEL_FORMAT!r} expected); "
                "re-save it with FuzzyMatcher.save"
            )
        try:
            saved = dict(document["settings"])
            region = str(saved.pop("phone_region", "US"))
            matcher = cls(FuzzySettings.model_validate(saved), backend=backend, spark=spark, phone_region=region)
            matcher.model_ = dict(document["splink_model"])
            model_columns(matcher.model_)
        except (KeyError, TypeError, ValidationError) as error:
            raise FuzzyModelError(
                f"fuzzy model {path}: missing or malformed entry ({error!r}); re-save it with FuzzyMatcher.save"
            ) from None
        return matcher

    # -- plumbing --------------------------------------------------------------------

    def _prepared(self, records: pa.Table, columns: tuple[str, ...]) -> pa.Table:
        kinds = self.settings.comparisons
        return prepare_records(records, {c: kinds[c] for c in columns}, phone_region=self.phone_region)

    def _fitted(self) -> dict[str, Any]:
        if self.model_ is None:
            raise FuzzyModelError("the fuzzy matcher is not fitted; call fit(records) or load(path) first")
        return self.model_

    @contextmanager
    def _linker(
        self, table: pa.Table, settings: SettingsCreator | dict[str, Any], *, exact: bool = False
    ) -> Iterator[tuple[Linker, SplinkDataFrame]]:
        session = splink_api(self.backend, self.spark, exact=exact, config=self.duckdb_config, store=self.store)
        with session as db_api, quiet_splink(), warnings.catch_warnings():
            # On Spark, pyspark warns (FutureWarning) "PySpark does not yet fully
            # support pandas >= 3.0.0" when Splink moves data through pandas.
            warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
            frame = db_api.register(table)
            if isinstance(settings, dict):
                dialect = db_api.sql_dialect.sql_dialect_str
                settings = settings_for_dialect(settings, dialect, self.settings.comparisons)
            yield Linker(frame, settings, log_level=None), frame
