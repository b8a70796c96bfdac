"""BG/NBD fit time: personae against lifetimes and pymc-marketing, on CDNOW and on synthetic customers.

Data:

- cdnow: the CDNOW sample of Fader, Hardie & Lee (2005), 2,357 customers, 39-week
  calibration, weeks (same-day purchases count once; T runs to 1997-09-30);
- synthetic: N customers (default 1M) drawn from the BG/NBD generative process with the
  paper's parameters (r 0.243, alpha 4.414, a 0.793, b 2.426) and a fixed seed: first
  purchase in the first 12 weeks, observed to week 39.

Fitters, each timed ``--repeat`` times in this process (median reported; the first run is
shown apart in the runs column, it includes pymc-marketing's graph compilation):

- personae: ``BetaGeo().fit(frequency, recency, T)`` (L-BFGS-B, analytic gradient);
- lifetimes: ``BetaGeoFitter().fit(frequency, recency, T)``;
- pymc-marketing: ``BetaGeoModel(data).fit(method="map")`` with its default priors (so its
  optimum is a posterior mode, not the maximum likelihood).

A library that cannot be imported is listed as "not installed: <reason>". Runs from either
venv (lifetimes and pymc-marketing live only in ``.venv-bench``)::

    .venv-bench/bin/python bench/models.py [--customers 1000000] [--repeat 5] [--seed 1997]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from personae.models import BetaGeo

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
NAMES = ("r", "alpha", "a", "b")
Fitter = Callable[[pd.DataFrame], dict[str, float]]


def load_cdnow() -> pd.DataFrame:
    """frequency, recency, T (weeks) of the CDNOW sample's 39-week calibration period."""
    lines = pd.read_csv(DATA / "CDNOW_sample.txt", sep=r"\s+", header=None, names=["mid", "id", "date", "cds", "usd"])
    lines["date"] = pd.to_datetime(lines["date"].astype(str), format="%Y%m%d")
    end = pd.Timestamp("1997-09-30")
    days = lines[lines["date"] <= end].drop_duplicates(["id", "date"])
    per = days.groupby("id")["date"]
    first, last = per.min(), per.max()
    return pd.DataFrame(
        {
            "frequency": (per.size() - 1).to_numpy(dtype=float),
            "recency": ((last - first).dt.days / 7).to_numpy(),
            "T": ((end - first).dt.days / 7).to_numpy(),
        }
    )


def simulate(n: int, seed: int) -> pd.DataFrame:
    """n customers from the BG/NBD process with the paper's parameters, observed for 39 weeks."""
    rng = np.random.default_rng(seed)
    age = 39.0 - rng.integers(0, 84, size=n) / 7  # first purchase on one of the first 84 days
    rate = rng.gamma(PAPER["r"], 1 / PAPER["alpha"], size=n)
    dropout = np.clip(rng.beta(PAPER["a"], PAPER["b"], size=n), 1e-12, 1.0)
    purchases = rng.poisson(rate * age)  # repeat purchases had the customer stayed alive
    lifetime = rng.geometric(dropout)  # the repeat purchase after which the customer leaves
    frequency = np.minimum(purchases, lifetime)
    # the frequency-th of `purchases` uniform arrival times on [0, T]
    recency = np.where(frequency > 0, age * rng.beta(np.maximum(frequency, 1), purchases - frequency + 1), 0.0)
    return pd.DataFrame({"frequency": frequency.astype(float), "recency": recency, "T": age})


def fit_personae(data: pd.DataFrame) -> dict[str, float]:
    return BetaGeo().fit(data["frequency"], data["recency"], data["T"]).params_


def lifetimes_fitter() -> tuple[Fitter | None, str]:
    try:
        from lifetimes import BetaGeoFitter
    except ImportError as error:
        return None, f"not installed: {error}"

    def fit(data: pd.DataFrame) -> dict[str, float]:
        model = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
        return {name: float(model.params_[name]) for name in NAMES}

    return fit, f"lifetimes {importlib.metadata.version('lifetimes')}"


def pymc_fitter() -> tuple[Fitter | None, str]:
    try:
        from pymc_marketing.clv import BetaGeoModel
    except ImportError as error:
        return None, f"not installed: {error}"

    def fit(data: pd.DataFrame) -> dict[str, float]:
        model = BetaGeoModel(data=data.assign(customer_id=np.arange(len(data))))
        model.fit(method="map", progressbar=False)
        return {name: float(model.fit_result[name].mean()) for name in NAMES}

    return fit, f"pymc-marketing {importlib.metadata.version('pymc-marketing')}"


def measure(fit: Fitter, data: pd.DataFrame, repeat: int) -> tuple[list[float], dict[str, float]]:
    runs, params = [], {}
    for _ in range(repeat):
        start = time.perf_counter()
        params = fit(data)
        runs.append(time.perf_counter() - start)
    return runs, params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1997)
    parser.add_argument("--skip", default="", help="comma-separated libraries to leave out, e.g. pymc-marketing")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # a benchmark script, not library code: keep the table readable

    fitters: dict[str, tuple[Fitter | None, str]] = {
        "personae": (fit_personae, f"personae {importlib.metadata.version('personae')}"),
        "lifetimes": lifetimes_fitter(),
        "pymc-marketing": pymc_fitter(),
    }
    skipped = {name.strip() for name in args.skip.split(",") if name.strip()}
    print(f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    for name, (_, note) in fitters.items():
        print(f"{name}: {note}" + (" (skipped)" if name in skipped else ""))
    datasets = {
        "cdnow sample": load_cdnow(),
        f"synthetic {args.customers:,}": simulate(args.customers, args.seed),
    }
    print(f"\nruns per cell: {args.repeat} (median); paper: " + ", ".join(f"{k} {v}" for k, v in PAPER.items()))
    print("\n| data | library | median s | runs s | r | alpha | a | b | time / personae |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|")
    for label, data in datasets.items():
        baseline = None
        for name, (fitter, note) in fitters.items():
            if fitter is None or name in skipped:
                reason = "skipped" if name in skipped else note
                print(f"| {label} | {name} | – | {reason} | | | | | |")
                continue
            runs, params = measure(fitter, data, args.repeat)
            median = statistics.median(runs)
            baseline = baseline or median
            shown = ", ".join(f"{run:.3g}" for run in runs)
            values = " | ".join(f"{params[key]:.4f}" for key in NAMES)
            print(f"| {label} | {name} | {median:.3g} | [{shown}] | {values} | {median / baseline:.1f}× |")


if __name__ == "__main__":
    main()
