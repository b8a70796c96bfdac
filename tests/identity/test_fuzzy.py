"""Probabilistic matching against the ground truth of the Febrl data sets.

Pairs are scored the way personae uses the links: the predicted links form connected
components, and every pair of records inside a component counts as predicted. Measured
at the default settings with the Python API (2026-12-02; the workspace figures are in
test_matching_workspace.py and docs/matching.md):

    file     with soc_sec_id as extra column     names, dates, addresses only
    febrl1   P 1.0000  R 0.9980  F1 0.9990       P 1.0000  R 0.9960  F1 0.9980
    febrl2   P 1.0000  R 0.9984  F1 0.9992       P 1.0000  R 0.9917  F1 0.9958
    febrl3   P 1.0000  R 0.9992  F1 0.9996       P 1.0000  R 0.9904  F1 0.9952
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from personae.errors import (
    FuzzyInputError,
    FuzzyModelError,
    FuzzyModelOutdated,
    FuzzySettingsError,
    FuzzyTrainingError,
    PersonaeError,
)
from personae.identity.cleaning import clean_column
from personae.identity.comparisons import Kind
from personae.identity.fuzzy import DEFAULT_COLUMNS, FuzzyMatcher, FuzzySettings
from personae.identity.fuzzy_settings import narrowed_rule
from personae.identity.splink_model import complete_untrained
from personae.identity.training import training_sample

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
WITH_SSN = FuzzySettings(extra_columns=("soc_sec_id",))


@cache
def febrl(name: str) -> pa.Table:
    """A Febrl file as customer records: raw-ish values, as a source would deliver them."""
    sql = f"""
        SELECT trim(rec_id) AS record_key,
               given_name AS first_name,
               surname AS last_name,
               try_strptime(trim(date_of_birth), '%Y%m%d')::DATE AS birth_date,
               concat_ws(' ', nullif(trim(street_number), ''), nullif(trim(address_1), '')) AS street,
               suburb AS city,
               postcode,
               NULL::VARCHAR AS phone,
               soc_sec_id
        FROM read_csv('{DATA / f"{name}.csv"}', all_varchar = true, header = true)
    """
    with duckdb.connect() as con:
        return con.sql(sql).to_arrow_table()


class Quality(NamedTuple):
    precision: float
    recall: float
    f1: float


def pairs_within(groups: Iterable[object]) -> set[tuple[int, int]]:
    members: dict[object, list[int]] = defaultdict(list)
    for row, group in enumerate(groups):
        members[group].append(row)
    return {pair for rows in members.values() for pair in itertools.combinations(rows, 2)}


def quality(records: pa.Table, links: pa.Table) -> Quality:
    """Pairwise precision/recall/F1 of the components the links form, against rec-N ids."""
    keys = records.column("record_key").to_pylist()
    row = {key: number for number, key in enumerate(keys)}
    left = [row[k] for k in links.column("record_key_l").to_pylist()]
    right = [row[k] for k in links.column("record_key_r").to_pylist()]
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(len(keys), len(keys)))
    _, labels = connected_components(graph, directed=False)
    truth = pairs_within(key.split("-")[1] for key in keys)
    predicted = pairs_within(labels)
    hits = len(truth & predicted)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return Quality(precision, recall, f1)


@pytest.fixture(scope="module")
def fitted() -> FuzzyMatcher:
    """One model of febrl1, shared by the tests that only use it."""
    return FuzzyMatcher(WITH_SSN).fit(febrl("febrl1"))


# -- measured quality ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("name", "floor"), [("febrl3", 0.99), ("febrl2", 0.99)])
def test_febrl_f1_at_default_settings(name: str, floor: float) -> None:
    records = febrl(name)
    links = FuzzyMatcher(WITH_SSN).fit(records).predict(records)
    measured = quality(records, links)
    assert measured.f1 >= floor, f"{name}: {measured}"
    assert measured.precision >= floor, f"{name}: {measured}"


def test_febrl1_f1_at_default_settings(fitted: FuzzyMatcher) -> None:
    records = febrl("febrl1")
    measured = quality(records, fitted.predict(records))
    assert measured.f1 >= 0.99, measured
    assert measured.precision >= 0.99, measured


@pytest.mark.slow
def test_febrl3_on_names_dates_and_addresses_alone() -> None:
    """No identifier at all: what fuzzy matching is for."""
    records = febrl("febrl3").drop_columns(["soc_sec_id"])
    links = FuzzyMatcher().fit(records).predict(records)
    measured = quality(records, links)
    assert measured.f1 >= 0.985, measured


# -- behaviour ------------------------------------------------------------------------


def test_predict_returns_sorted_pairs_at_or_above_the_threshold(fitted: FuzzyMatcher) -> None:
    links = fitted.predict(febrl("febrl1"))
    assert links.column_names == ["record_key_l", "record_key_r", "match_probability", "match_weight"]
    assert links.schema.field("match_probability").type == pa.float64()
    assert pc.min(links["match_probability"]).as_py() >= fitted.settings.threshold
    assert pc.all(pc.less(links["record_key_l"], links["record_key_r"])).as_py()
    assert links.equals(links.sort_by([("record_key_l", "ascending"), ("record_key_r", "ascending")]))


def test_same_data_and_seed_give_the_same_model_and_pairs(fitted: FuzzyMatcher) -> None:
    records = febrl("febrl1")
    again = FuzzyMatcher(WITH_SSN).fit(records)
    assert again.model_ == fitted.model_
    assert again.predict(records).equals(fitted.predict(records))


def test_prediction_in_chunks_gives_the_same_pairs(fitted: FuzzyMatcher) -> None:
    records = febrl("febrl1")
    whole = fitted.predict(records)
    chunked = FuzzyMatcher.__new__(FuzzyMatcher)
    chunked.__dict__.update(fitted.__dict__, chunk_records=130)  # 1,000 records: 8 chunks
    parts = list(chunked.predict_chunks(records))
    assert len(parts) == 8 and all(part.schema == whole.schema for part in parts)
    assert chunked.predict(records).equals(whole) and whole.num_rows > 100


def test_the_training_sample_is_seeded_and_ignores_the_order_of_records() -> None:
    records = febrl("febrl1")  # 1,000 records
    sample = training_sample(records, 300, seed=3)
    shuffled = records.take(np.random.default_rng(0).permutation(records.num_rows))
    assert sample.num_rows == 300 and sample.equals(training_sample(shuffled, 300, seed=3))
    assert not sample.equals(training_sample(records, 300, seed=4))
    assert pc.count_distinct(sample["record_key"]).as_py() == 300
    assert training_sample(records, records.num_rows, seed=3) is records  # no more than asked: all of them


def test_the_model_is_fully_trained_and_its_prior_is_plausible(fitted: FuzzyMatcher) -> None:
    model = fitted.model_
    assert model is not None
    names = [c["output_column_name"] for c in model["comparisons"]]
    assert names == [c for c in DEFAULT_COLUMNS if c != "phone"] + ["soc_sec_id"]  # phone all NULL
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            assert level.get("is_null_level") or {"m_probability", "u_probability"} <= set(level)
    true_rate = 500 / (1000 * 999 / 2)  # febrl1: 500 duplicate pairs among 1000 records
    # Splink's deterministic-rule estimate (rules assumed to find 70 % of matches)
    assert true_rate / 2 < model["probability_two_random_records_match"] < true_rate * 2


def test_values_are_normalised_before_matching(fitted: FuzzyMatcher) -> None:
    records = febrl("febrl1")
    shouted = records
    for column in ("first_name", "last_name", "street", "city"):
        values = pc.utf8_upper(records.column(column))
        shouted = shouted.set_column(
            shouted.column_names.index(column), column, pc.binary_join_element_wise("  ", values, " ", "")
        )
    assert fitted.predict(shouted).equals(fitted.predict(records))


@pytest.mark.parametrize(
    ("kind", "raw", "clean"),
    [
        ("text", ["  Mary-Ann ", "O'Brien", "St. Kilda", "", None], ["mary ann", "obrien", "st kilda", None, None]),
        ("code", ["SW1A 1AA", " 2119", "-"], ["sw1a1aa", "2119", None]),
        (
            "phone",  # E.164 as at ingest: a national number takes the region's code (US)
            ["+44 (20) 7946-0958", "(312) 776-1546", "1-312-776-1546", "+1 312 776 1546", "12"],
            ["+442079460958", "+13127761546", "+13127761546", "+13127761546", None],
        ),
        ("date", ["1972-08-12", " 1972-08-12 ", "2001-02-30", "19720812"], [date(1972, 8, 12)] * 2 + [None] * 2),
    ],
)
def test_columns_are_cleaned_by_kind(kind: Kind, raw: list[Any], clean: list[Any]) -> None:
    assert clean_column(pa.chunked_array([raw], pa.string()), kind).to_pylist() == clean


def test_levels_training_left_out_are_filled_in() -> None:
    """Never among random pairs but seen among matches: u is bounded by the rule of three."""
    model = {
        "comparisons": [
            {
                "output_column_name": "phone",
                "comparison_levels": [
                    {"sql_condition": "phone_l IS NULL", "is_null_level": True},
                    {"sql_condition": "phone_l = phone_r", "m_probability": 0.7},  # u: no random pair
                    {"sql_condition": "levenshtein(phone_l, phone_r) <= 1"},  # seen nowhere
                    {"sql_condition": "ELSE", "m_probability": 0.3, "u_probability": 1.0},
                ],
            }
        ]
    }
    labels = complete_untrained(model, sampled_pairs=1e6)
    exact, typo, other = model["comparisons"][0]["comparison_levels"][1:]
    assert len(labels) == 2
    assert (exact["m_probability"], exact["u_probability"]) == (0.7, 3e-6)  # strong evidence kept
    assert typo["m_probability"] == typo["u_probability"]  # neutral
    assert (other["m_probability"], other["u_probability"]) == (0.3, 1.0)


@pytest.mark.parametrize(
    ("rule", "columns", "narrowed"),
    [
        ("l.a = r.a and l.b = r.b", {"a", "b", "c"}, "l.a = r.a and l.b = r.b"),
        ("l.a = r.a and l.b = r.b and l.c = r.c", {"a", "c"}, "l.a = r.a AND l.c = r.c"),
        ("l.a = r.a and l.b = r.b", {"c"}, None),
    ],
)
def test_training_rules_drop_the_terms_over_missing_columns(rule: str, columns: set[str], narrowed: str) -> None:
    assert narrowed_rule(rule, columns) == narrowed


def test_save_and_load_round_trip(fitted: FuzzyMatcher, tmp_path: Path) -> None:
    path = tmp_path / "fuzzy.json"
    fitted.save(path)
    document = json.loads(path.read_text())
    assert document["settings"]["compare"]["soc_sec_id"] == "identifier"
    assert {"personae_version", "splink_version", "splink_model"} <= set(document)
    loaded = FuzzyMatcher.load(path)
    assert loaded.settings.to_dict() == fitted.settings.to_dict()
    assert loaded.model_ == fitted.model_
    records = febrl("febrl1")
    assert loaded.predict(records).equals(fitted.predict(records))


def test_explain_weights_add_up_to_the_total(fitted: FuzzyMatcher) -> None:
    records = febrl("febrl1")
    rows = fitted.explain(records, "rec-0-org", "rec-0-dup-0")
    names = [row.name for row in rows]
    assert names[0] == "prior" and names[-1] == "total"
    model = fitted.model_
    assert model is not None
    assert names[1:-1] == [c["output_column_name"] for c in model["comparisons"]]
    assert sum(row.match_weight for row in rows[:-1]) == pytest.approx(rows[-1].match_weight)
    assert all(isinstance(row.level, str) and row.level for row in rows)
    link = fitted.predict(records).filter(pc.equal(pc.field("record_key_l"), "rec-0-dup-0"))
    assert rows[-1].match_weight == pytest.approx(link.column("match_weight")[0].as_py())
    different = fitted.explain(records, "rec-0-org", "rec-1-org")
    assert different[-1].match_weight < 0


# -- errors ---------------------------------------------------------------------------


def test_records_without_a_key_are_rejected() -> None:
    records = febrl("febrl1").drop_columns(["record_key"])
    with pytest.raises(FuzzyInputError, match="no 'record_key' column"):
        FuzzyMatcher().fit(records)


def test_duplicate_keys_are_rejected_by_name() -> None:
    records = febrl("febrl1").slice(0, 30)
    records = pa.concat_tables([records, records.slice(0, 2)])
    with pytest.raises(FuzzyInputError, match=r"must be unique.*'rec-"):
        FuzzyMatcher().fit(records)


def test_a_missing_compared_column_is_named() -> None:
    records = febrl("febrl1").drop_columns(["phone"])
    with pytest.raises(FuzzyInputError, match=r"no column\(s\) \['phone'\]"):
        FuzzyMatcher().fit(records)


@pytest.mark.parametrize("count", [5, 60])
def test_too_few_records_to_learn_from(count: int) -> None:
    with pytest.raises(FuzzyTrainingError, match="more records") as raised:
        FuzzyMatcher().fit(febrl("febrl1").slice(0, count))
    assert isinstance(raised.value, PersonaeError)
    assert "Traceback" not in str(raised.value)


def test_predict_before_fit_says_what_to_do() -> None:
    with pytest.raises(FuzzyModelError, match="call fit"):
        FuzzyMatcher().predict(febrl("febrl1"))


def test_load_rejects_a_file_that_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(FuzzyModelError, match="not a personae fuzzy model"):
        FuzzyMatcher.load(path)


def test_a_model_saved_by_an_older_personae_is_retrained_by_the_identity_step(
    fitted: FuzzyMatcher, tmp_path: Path
) -> None:
    from personae.engine import DuckDBEngine
    from personae.identity.matching import MODEL_FILE, matcher_for

    path = tmp_path / "models" / MODEL_FILE
    path.parent.mkdir()
    fitted.save(path)
    document = json.loads(path.read_text())
    document["format"] = "personae.fuzzy/1"
    path.write_text(json.dumps(document))
    with pytest.raises(FuzzyModelOutdated, match="older personae"):
        FuzzyMatcher.load(path)
    engine = DuckDBEngine(tmp_path / "store.duckdb")
    try:
        engine.register_arrow("febrl1", febrl("febrl1"))
        columns = FuzzySettings().columns
        engine.materialise(
            "customer_records",
            f"SELECT 'crm' AS source, record_key AS record_id, {', '.join(columns)}, NULL::VARCHAR AS attributes "
            "FROM febrl1",
        )
        warnings: list[str] = []
        matcher = matcher_for(engine, FuzzySettings(), path.parent, "US", warnings)
    finally:
        engine.close()
    assert matcher is not None and matcher.model_ is not None
    assert FuzzyMatcher.load(path).model_ == matcher.model_  # retrained and saved anew
    assert warnings and "retraining the fuzzy model" in warnings[0]


class RetrainedError(Exception):
    """Raised by a fit that a test forbids."""


def test_a_changed_prediction_setting_keeps_the_model_and_a_training_one_retrains(
    fitted: FuzzyMatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from personae.engine import DuckDBEngine
    from personae.identity.matching import MODEL_FILE, matcher_for

    path = tmp_path / "models" / MODEL_FILE
    path.parent.mkdir()
    fitted.save(path)

    def forbidden(self: FuzzyMatcher, records: pa.Table) -> FuzzyMatcher:
        raise RetrainedError

    monkeypatch.setattr(FuzzyMatcher, "fit", forbidden)
    predicting = WITH_SSN.model_copy(update={"threshold": 0.9, "max_block_records": 50})
    engine = DuckDBEngine(tmp_path / "store.duckdb")
    try:
        engine.register_arrow("febrl1", febrl("febrl1"))
        engine.materialise(  # these settings name phone and soc_sec_id: both need values
            "customer_records",
            "SELECT 'crm' AS source, record_key AS record_id, * EXCLUDE (record_key, soc_sec_id) "
            "REPLACE ('2025550100' AS phone), json_object('soc_sec_id', soc_sec_id)::VARCHAR AS attributes FROM febrl1",
        )
        warnings: list[str] = []
        kept = matcher_for(engine, predicting, path.parent, "US", warnings)
        assert kept is not None and kept.model_ == fitted.model_ and kept.settings == predicting
        saved = FuzzyMatcher.load(path).settings
        assert saved.to_dict() == predicting.to_dict()  # saved with the settings it predicts with
        with pytest.raises(RetrainedError):
            matcher_for(engine, predicting.model_copy(update={"seed": 7}), path.parent, "US", warnings)
    finally:
        engine.close()
    assert not warnings


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"threshold": 1.5}, "between 0 and 1"),
        ({"columns": ("first_name", "shoe_size")}, "shoe_size.*compare = { shoe_size = 'identifier' }"),
        ({"blocking": ("l.emial = r.emial",)}, r"column\(s\) \['emial'\] that are not compared"),
        ({"compare": {"first_name": "nmae"}}, "unknown comparison kind; did you mean 'name'"),
        ({"compare": {"ssn": "identifier"}, "extra_columns": ("ssn",)}, "either compare .* or columns"),
        ({"compare": {"record_id": "exact"}}, "compared column 'record_id'"),
        ({"blocking": ("first_name = first_name",)}, "prefixed l. or r."),
        ({"blocking": ()}, "no blocking rules"),
        ({"training_records": 500}, "training_records 500 is too few to find duplicates in"),
    ],
)
def test_invalid_settings_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):  # pydantic's ValidationError, or ConfigError from personae.toml
        FuzzySettings(**changes)


def test_default_blocking_suits_fewer_columns() -> None:
    settings = FuzzySettings(columns=("first_name", "last_name", "birth_date", "postcode"))
    records = febrl("febrl1").select(["record_key", *settings.columns])
    links = FuzzyMatcher(settings).fit(records).predict(records)
    assert quality(records, links).precision >= 0.95


def test_spark_backend_needs_a_session() -> None:
    with pytest.raises(FuzzySettingsError, match="needs a SparkSession"):
        FuzzyMatcher(backend="spark")


# -- Spark ----------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.slow
def test_a_duckdb_model_predicts_the_same_pairs_on_spark(fitted: FuzzyMatcher, tmp_path: Path) -> None:
    from personae.engine.spark import SparkEngine

    store = SparkEngine(tmp_path / "warehouse", master="local[2]", shuffle_partitions=2)
    try:
        on_spark = FuzzyMatcher(fitted.settings, backend="spark", spark=store.session)
        on_spark.model_ = fitted.model_
        records = febrl("febrl1").slice(0, 300)  # Spark time is per step, not per row
        expected = fitted.predict(records)
        got = on_spark.predict(records)
    finally:
        store.close()
    assert got.select(["record_key_l", "record_key_r"]).equals(expected.select(["record_key_l", "record_key_r"]))
    # Splink's Spark jaro_winkler (a Scala UDF) scores a few strings differently from
    # DuckDB's, e.g. 'mcwhae circuit' vs '2 mcwhae circuit' is >= 0.88 on DuckDB only.
    same = np.isclose(got["match_weight"].to_numpy(), expected["match_weight"].to_numpy(), rtol=1e-9)
    assert same.mean() >= 0.99
