"""CLV models against published values: BG/NBD (Fader, Hardie & Lee 2005) and Gamma-Gamma (Fader & Hardie 2013)
on the CDNOW sample, P(alive) in SQL against numpy, persistence, fit failures and batch scoring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.optimize
import sqlglot

from personae.errors import ModelFitError
from personae.models import BetaGeo, GammaGamma, customer_lifetime_value, fitting, score_customers

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CALIBRATION_END = pd.Timestamp("1997-09-30")

# Fader, Hardie & Lee (2005), CDNOW sample, 39-week calibration, weeks.
PAPER_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PAPER_BGNBD_LL = -9582.4
# Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value": 946 repeat buyers.
NOTE_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """Per customer of the sample: frequency, recency and T in weeks, and average repeat spend.

    Same-day purchases are one transaction (their values summed); recency runs from the first
    to the last calibration purchase, T from the first purchase to 1997-09-30 (so a customer
    who first bought on 1 January has T = 272/7 = 38.86 weeks, as in the paper's data).
    """
    lines = pd.read_csv(
        DATA / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer", "date", "cds", "dollars"],
    )
    lines["date"] = pd.to_datetime(lines["date"].astype(str), format="%Y%m%d")
    calibration = lines[lines["date"] <= CALIBRATION_END]
    days = calibration.groupby(["customer", "date"], as_index=False).agg(dollars=("dollars", "sum"))
    days = days.sort_values(["customer", "date"])
    days["nth"] = days.groupby("customer").cumcount()
    per_customer = days.groupby("customer")
    first, last = per_customer["date"].min(), per_customer["date"].max()
    repeat_spend = days[days["nth"] > 0].groupby("customer")["dollars"].mean()
    return pd.DataFrame(
        {
            "frequency": per_customer.size() - 1,
            "recency": (last - first).dt.days / 7,
            "T": (CALIBRATION_END - first).dt.days / 7,
            "monetary_value": repeat_spend.reindex(first.index).fillna(0.0),
        }
    ).reset_index()


@pytest.fixture(scope="module")
def bgnbd(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"], as_of="1997-09-30")


@pytest.fixture(scope="module")
def gamma_gamma(cdnow: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(cdnow["frequency"], cdnow["monetary_value"])


def test_cdnow_sample_has_the_papers_shape(cdnow: pd.DataFrame) -> None:
    assert len(cdnow) == 2357
    assert int((cdnow["frequency"] > 0).sum()) == 946


def test_bgnbd_reproduces_the_published_cdnow_parameters(bgnbd: BetaGeo) -> None:
    for name, published in PAPER_BGNBD.items():
        assert bgnbd.params_[name] == pytest.approx(published, rel=0.01), name
    assert bgnbd.fit_ is not None
    assert bgnbd.fit_.converged
    assert bgnbd.fit_.n == 2357
    assert bgnbd.fit_.log_likelihood == pytest.approx(PAPER_BGNBD_LL, abs=0.1)


def test_bgnbd_formulas_match_hardies_spreadsheet(bgnbd: BetaGeo) -> None:
    """Published worked values at the MLE (the paper's example customer; Hardie's BG/NBD spreadsheet)."""
    model = bgnbd
    expected = model.conditional_expected_number_of_purchases_up_to_time(39, 2, 30.43, 38.86)
    assert expected[0] == pytest.approx(1.226, abs=5e-4)
    times = [0.1429, 1.0, 3.00, 31.8571, 32.00, 78.00]
    spreadsheet = [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576]
    assert model.expected_number_of_purchases_up_to_time(times) == pytest.approx(spreadsheet, abs=5e-4)


def test_gamma_gamma_reproduces_the_published_cdnow_parameters(gamma_gamma: GammaGamma) -> None:
    for name, published in NOTE_GAMMA_GAMMA.items():
        assert gamma_gamma.params_[name] == pytest.approx(published, rel=0.01), name
    assert gamma_gamma.fit_ is not None
    assert gamma_gamma.fit_.n == 946


def test_expected_spend_shrinks_towards_the_population_mean(gamma_gamma: GammaGamma) -> None:
    p, q, gamma = (gamma_gamma.params_[k] for k in ("p", "q", "gamma"))
    population = p * gamma / (q - 1)
    spend = gamma_gamma.conditional_expected_average_profit([0, 1, 1, 20], [0.0, 10.0, 200.0, 200.0])
    assert spend[0] == pytest.approx(population)
    assert 10.0 < spend[1] < population < spend[2] < 200.0
    assert spend[2] < spend[3] < 200.0  # more transactions, less shrinkage


def test_p_alive_sql_in_duckdb_equals_numpy(cdnow: pd.DataFrame, bgnbd: BetaGeo) -> None:
    expression = bgnbd.p_alive_sql("frequency", "recency", '"T"')
    con = duckdb.connect()
    con.register("customers", cdnow)
    rows = con.execute(f"SELECT customer, {expression} FROM customers ORDER BY customer").fetchall()
    from_sql = np.array([value for _, value in rows])
    expected = bgnbd.conditional_probability_alive(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert [customer for customer, _ in rows] == cdnow["customer"].tolist()
    assert np.abs(from_sql - expected).max() < 1e-9
    assert from_sql.min() < 0.05  # lapsed repeat buyers are judged dead, so the test covers both branches
    con.close()


def test_p_alive_sql_survives_a_spark_round_trip(cdnow: pd.DataFrame, bgnbd: BetaGeo) -> None:
    query = f"SELECT {bgnbd.p_alive_sql('frequency', 'recency', 'T')} AS p FROM customers"
    spark = sqlglot.transpile(query, read="duckdb", write="spark")[0]
    back = sqlglot.transpile(spark, read="spark", write="duckdb")[0]
    con = duckdb.connect()
    con.register("customers", cdnow)
    values = np.array([row[0] for row in con.execute(back).fetchall()])
    con.close()
    expected = bgnbd.conditional_probability_alive(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert np.abs(values - expected).max() < 1e-9


def test_p_alive_sql_gives_zero_not_overflow_for_long_lapsed_heavy_buyers(bgnbd: BetaGeo) -> None:
    expression = bgnbd.p_alive_sql("f", "rec", "age")
    row = duckdb.connect().execute(f"SELECT {expression} FROM (SELECT 5000 AS f, 0.01 AS rec, 500.0 AS age)").fetchone()
    assert row is not None
    assert row[0] == 0.0
    assert bgnbd.conditional_probability_alive(5000, 0.01, 500.0)[0] == 0.0


def test_expected_purchases_sql_says_to_use_the_batch_scorer(bgnbd: BetaGeo) -> None:
    with pytest.raises(ModelFitError, match="score_customers"):
        bgnbd.expected_purchases_sql(39.0, "frequency", "recency", "T")


def test_json_round_trip(tmp_path: Path, cdnow: pd.DataFrame, bgnbd: BetaGeo, gamma_gamma: GammaGamma) -> None:
    bgnbd.save(tmp_path / "bgnbd.json")
    gamma_gamma.save(tmp_path / "gg.json")
    saved = json.loads((tmp_path / "bgnbd.json").read_text())
    assert saved["model"] == "bgnbd"
    assert saved["version"] == 1
    assert saved["as_of"] == "1997-09-30"
    assert set(saved["fit"]) == {"log_likelihood", "n", "iterations", "converged", "seconds"}
    loaded, loaded_gg = BetaGeo.load(tmp_path / "bgnbd.json"), GammaGamma.load(tmp_path / "gg.json")
    assert loaded.params_ == bgnbd.params_
    assert loaded_gg.params_ == gamma_gamma.params_
    assert loaded.fit_ == bgnbd.fit_
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert np.array_equal(loaded.conditional_probability_alive(*args), bgnbd.conditional_probability_alive(*args))
    with pytest.raises(ModelFitError, match="not a saved gamma_gamma model"):
        GammaGamma.load(tmp_path / "bgnbd.json")
    with pytest.raises(ModelFitError, match="format version 2"):
        BetaGeo.from_dict({**saved, "version": 2})


def test_fitting_twice_gives_identical_parameters(cdnow: pd.DataFrame) -> None:
    args = (cdnow["frequency"].to_numpy(), cdnow["recency"].to_numpy(), cdnow["T"].to_numpy())
    assert BetaGeo().fit(*args).params_ == BetaGeo().fit(*args).params_
    spend = (cdnow["frequency"], cdnow["monetary_value"])
    assert GammaGamma().fit(*spend).params_ == GammaGamma().fit(*spend).params_


def test_too_few_repeat_buyers_says_how_many(cdnow: pd.DataFrame) -> None:
    few = pd.concat([cdnow[cdnow["frequency"] > 0].head(4), cdnow[cdnow["frequency"] == 0].head(200)])
    with pytest.raises(ModelFitError, match=r"4 customer\(s\) with a repeat purchase .* at least 10 needed"):
        BetaGeo().fit(few["frequency"], few["recency"], few["T"])
    with pytest.raises(ModelFitError, match="at least 10 needed"):
        GammaGamma().fit(few["frequency"], few["monetary_value"])


def test_bad_inputs_name_the_input(cdnow: pd.DataFrame) -> None:
    frequency, recency, age = (cdnow[c].to_numpy().copy() for c in ("frequency", "recency", "T"))
    with_nan = age.copy()
    with_nan[3] = np.nan
    with pytest.raises(ModelFitError, match="T has 1 NaN or infinite"):
        BetaGeo().fit(frequency, recency, with_nan)
    negative = recency.copy()
    negative[7] = -1.0
    with pytest.raises(ModelFitError, match="recency has 1 negative"):
        BetaGeo().fit(frequency, negative, age)
    with pytest.raises(ModelFitError, match="recency exceeds T"):
        BetaGeo().fit(frequency, age + 1, age)
    with pytest.raises(ModelFitError, match="differ in length"):
        BetaGeo().fit(frequency, recency, age[:-1])
    with pytest.raises(ModelFitError, match="monetary_value has 1 NaN"):
        GammaGamma().fit(cdnow["frequency"], cdnow["monetary_value"].where(cdnow.index != 5))


def test_unidentified_parameters_are_a_singular_fit() -> None:
    """Buyers who never lapse (each bought at the very end) give no evidence of dropping out."""
    frequency = np.full(50, 10.0)
    with pytest.raises(ModelFitError, match="singular fit"):
        BetaGeo().fit(frequency, np.full(50, 30.0), np.full(50, 30.0))


def _same_spenders(customers: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Every customer's orders drawn from one gamma (no heterogeneity between customers): the
    likelihood rises forever along q, gamma -> infinity with gamma / q fixed."""
    rng = np.random.default_rng(11)
    frequency = rng.integers(1, 8, customers).astype(float)
    spend = np.array([rng.gamma(8.0, 10.0, int(x)).mean() for x in frequency])
    return frequency, spend


def test_spend_without_heterogeneity_is_never_a_ridge_point() -> None:
    """Unpenalised, a fit may stop anywhere on the ridge; it must say singular (or not converged),
    never return such a point. Penalised, the same data give one answer whatever the row order
    (the line search may end on rounding at the optimum, which depends on the order)."""
    frequency, spend = _same_spenders()
    rng = np.random.default_rng(0)
    fitted = []
    for _ in range(15):
        order = rng.permutation(frequency.size)
        with pytest.raises(ModelFitError, match=r"singular fit|did not converge"):
            GammaGamma().fit(frequency[order], spend[order])
        fitted.append(GammaGamma(0.001).fit(frequency[order], spend[order]).params_["q"])
    assert max(fitted) == pytest.approx(min(fitted), rel=1e-6)
    assert min(fitted) > 1


def test_optimiser_failure_reports_its_message(cdnow: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    real = scipy.optimize.minimize

    def one_iteration(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "options": {**kwargs["options"], "maxiter": 1}})

    monkeypatch.setattr(fitting, "minimize", one_iteration)
    with pytest.raises(ModelFitError, match=r"did not converge after 1 iterations \(.*ITERATIONS REACHED LIMIT"):
        BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_unfitted_model_says_to_fit_first() -> None:
    with pytest.raises(ModelFitError, match="not fitted"):
        BetaGeo().conditional_probability_alive([1], [1.0], [2.0])


def test_penalizer_shrinks_the_parameters(cdnow: pd.DataFrame, bgnbd: BetaGeo) -> None:
    penalised = BetaGeo(penalizer=0.1).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert sum(v**2 for v in penalised.params_.values()) < sum(v**2 for v in bgnbd.params_.values())


def test_clv_behaves_like_a_discounted_sum(cdnow: pd.DataFrame, bgnbd: BetaGeo, gamma_gamma: GammaGamma) -> None:
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"])
    monthly = {"period_length": 4.345, "discount_rate": 0.01}
    one = customer_lifetime_value(bgnbd, gamma_gamma, *args, horizon_periods=1, **monthly)
    spend = gamma_gamma.conditional_expected_average_profit(cdnow["frequency"], cdnow["monetary_value"])
    purchases = bgnbd.conditional_expected_number_of_purchases_up_to_time(4.345, *args[:3])
    np.testing.assert_allclose(one, spend * purchases / 1.01, rtol=1e-12)
    year = customer_lifetime_value(bgnbd, gamma_gamma, *args, horizon_periods=12, **monthly)
    undiscounted = customer_lifetime_value(
        bgnbd, gamma_gamma, *args, horizon_periods=12, period_length=4.345, discount_rate=0.0
    )
    twelve_months = bgnbd.conditional_expected_number_of_purchases_up_to_time(12 * 4.345, *args[:3])
    np.testing.assert_allclose(undiscounted, spend * twelve_months, rtol=1e-10)
    assert np.all(one < year) and np.all(year < undiscounted)


def test_score_customers_is_batch_by_batch_and_agrees_with_the_whole(
    cdnow: pd.DataFrame, bgnbd: BetaGeo, gamma_gamma: GammaGamma
) -> None:
    renamed = cdnow.rename(columns={"T": "age"})
    pulled: list[int] = []

    def batches() -> Iterator[pa.RecordBatch | pd.DataFrame]:
        for start in range(0, len(renamed), 1000):
            pulled.append(start)
            chunk = renamed.iloc[start : start + 1000]
            yield chunk if start == 0 else pa.RecordBatch.from_pandas(chunk, preserve_index=False)

    horizon: dict[str, Any] = {"horizon_periods": 6, "discount_rate": 0.01, "period_length": 4.345}
    scored = score_customers(batches(), bgnbd, gamma_gamma, columns={"T": "age"}, **horizon)
    first = next(scored)
    assert pulled == [0]  # lazy: one batch pulled per batch scored
    result = pa.Table.from_batches([first, *scored]).to_pandas()
    assert pulled == [0, 1000, 2000]
    assert result["customer"].tolist() == cdnow["customer"].tolist()
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    np.testing.assert_allclose(result["p_alive"], bgnbd.conditional_probability_alive(*args), rtol=1e-12)
    np.testing.assert_allclose(
        result["expected_purchases"],
        bgnbd.conditional_expected_number_of_purchases_up_to_time(6 * 4.345, *args),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        result["clv"].to_numpy(),
        customer_lifetime_value(bgnbd, gamma_gamma, *args, cdnow["monetary_value"], **horizon),
        rtol=1e-12,
    )
    with pytest.raises(ModelFitError, match=r"no column\(s\) \['T'\]"):
        next(score_customers([renamed], bgnbd, gamma_gamma, **horizon))
