"""Matching configured from personae.toml, measured through the front door.

Each test makes a workspace the way a user does (`personae init`, a `personae.toml` written
by hand, `personae run`) and reads the result from the store: two Febrl records are
predicted to match when they got the same UID in ``record_map``. The Febrl set is
febrl3 (5,000 records of 2,000 people, ``../shared/data``); the config and the numbers are
the ones docs/matching.md shows, read from that page, so the page cannot drift from what
is measured.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pytest
from typer.testing import CliRunner

from personae.cli.app import app
from personae.errors import ConfigError
from personae.identity.fuzzy import FuzzyMatcher

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
RECIPE = ROOT / "docs" / "matching.md"
NATIONAL_ID = 'soc_sec_id = "identifier"'

runner = CliRunner()


class Quality(NamedTuple):
    precision: float
    recall: float
    f1: float


def recipe_config() -> str:
    """The personae.toml lines of docs/matching.md (the block after ``<!-- febrl-config -->``)."""
    text = RECIPE.read_text(encoding="utf-8")
    found = re.search(r"<!-- febrl-config -->\n```toml\n(.*?)```", text, re.DOTALL)
    assert found, "docs/matching.md lost its febrl-config block"
    return found.group(1)


def recipe_numbers() -> dict[str, Quality]:
    """The table after ``<!-- febrl-numbers -->``: first column -> (precision, recall, F1)."""
    text = RECIPE.read_text(encoding="utf-8").split("<!-- febrl-numbers -->", 1)[1]
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:3]
    numbers = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        numbers["national id" if "soc_sec_id" in cells[0] else "names"] = Quality(*map(float, cells[1:4]))
    return numbers


def invoke(*arguments: str) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result.output


def make_workspace(root: Path, data: str, config: str) -> Path:
    """`personae init`, the data file copied into data/, ``config`` appended to personae.toml."""
    invoke("init", str(root))
    shutil.copy(DATA / data, root / "data" / "febrl3.csv")
    with (root / "personae.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n" + config)
    return root


def quality(root: Path) -> Quality:
    """Pairwise precision, recall and F1 of the UIDs over every row of the Febrl file."""
    truth = root / "data" / "febrl3.csv"
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:
        store.execute(
            "CREATE TEMP VIEW scored AS SELECT split_part(trim(t.rec_id), '-', 2) AS person, "
            "coalesce(m.uid, 'unresolved:' || trim(t.rec_id)) AS uid "
            f"FROM read_csv('{truth}', all_varchar = true, header = true) AS t "
            "LEFT JOIN record_map AS m ON m.source = 'febrl' AND m.record_id = trim(t.rec_id)"
        )
        pairs = "SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n FROM scored GROUP BY {})"
        hits, predicted, actual = (
            int(store.execute(pairs.format(by)).fetchone()[0]) for by in ("uid, person", "uid", "person")
        )  # type: ignore[index]
    precision, recall = hits / predicted, hits / actual
    return Quality(precision, recall, 2 * precision * recall / (precision + recall))


@pytest.fixture(scope="module")
def febrl3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_workspace(tmp_path_factory.mktemp("recipe") / "febrl", "febrl3.csv", recipe_config())
    invoke("run", "-w", str(root))
    return root


def test_febrl3_on_names_dates_and_addresses(febrl3: Path) -> None:
    measured = quality(febrl3)
    assert measured.f1 >= 0.995, measured
    documented = recipe_numbers()["names"]
    assert all(abs(m - d) <= 5e-4 for m, d in zip(measured, documented, strict=True)), (measured, documented)


def test_febrl3_with_the_national_id_as_an_extra_column(tmp_path: Path) -> None:
    config = recipe_config().replace('state = "exact"\n', f'state = "exact"\n{NATIONAL_ID}\n')
    assert NATIONAL_ID in config
    root = make_workspace(tmp_path / "febrl", "febrl3.csv", config)
    invoke("run", "-w", str(root))
    measured = quality(root)
    assert measured.f1 >= 0.999, measured
    documented = recipe_numbers()["national id"]
    assert all(abs(m - d) <= 5e-4 for m, d in zip(measured, documented, strict=True)), (measured, documented)


def test_explain_shows_every_configured_comparison(febrl3: Path) -> None:
    shown = json.loads(
        invoke("identity", "explain", "febrl:rec-1337-org", "febrl:rec-1337-dup-0", "-w", str(febrl3), "-f", "json")
    )
    names = [row["name"] for row in shown]
    compared = re.findall(r"^(\w+) = \"", recipe_config().split("[identity.fuzzy.compare]")[1], re.MULTILINE)
    assert names == ["prior", *compared, "total"]
    assert {row["kind"] for row in shown[1:-1]} >= {"name", "date", "identifier", "exact"}
    assert abs(sum(row["match_weight"] for row in shown[:-1]) - shown[-1]["match_weight"]) < 1e-6


def test_report_shows_m_and_u_per_level(febrl3: Path) -> None:
    report = json.loads(invoke("identity", "report", "-w", str(febrl3), "-f", "json"))
    levels = report["fuzzy_levels"]
    street_number = [level for level in levels if level["comparison"] == "street_number"]
    exact = street_number[0]
    assert exact["level"].startswith("Exact match") and exact["kind"] == "identifier"
    assert all(0 < level["m_probability"] <= 1 and 0 < level["u_probability"] <= 1 for level in levels)
    assert exact["m_probability"] > 10 * exact["u_probability"]
    table = invoke("identity", "report", "-w", str(febrl3))
    assert "m and u per level" in table


def small_workspace(root: Path, compare: str, fuzzy: str = "") -> Path:
    """The recipe's source over the first 400 febrl3 rows, with ``compare`` and [identity.fuzzy] keys."""
    invoke("init", str(root))
    lines = (DATA / "febrl3.csv").read_text(encoding="utf-8").splitlines(keepends=True)[:401]
    (root / "data" / "febrl3.csv").write_text("".join(lines), encoding="utf-8")
    source = recipe_config().split("[identity.fuzzy.compare]")[0]
    with (root / "personae.toml").open("a", encoding="utf-8") as toml:
        toml.write(f"\n{source}\n[identity.fuzzy]\n{fuzzy}\n[identity.fuzzy.compare]\n{compare}\n")
    return root


def refused(root: Path, *command: str) -> str:
    """The config error the command stops with (the CLI's ``main`` prints it and exits 2)."""
    result = runner.invoke(app, [*command, "-w", str(root)])
    assert isinstance(result.exception, ConfigError), result.output
    return str(result.exception)


def test_a_comparison_on_a_column_no_source_maps_is_a_config_error(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "w", 'last_name = "name"\nnational_id = "identifier"')
    message = refused(root, "run")
    assert "compares 'national_id' (identifier)" in message
    assert "no customers source has a column 'national_id'" in message
    assert "soc_sec_id" in message  # the columns the source did keep, as the hint
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:
        assert store.execute("SELECT count(*) FROM customer_records").fetchone()[0] >= 399  # type: ignore[index]


def _store_state(root: Path) -> dict[str, bytes]:
    """Every file of the workspace but personae.toml, with its bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "personae.toml"
    }


def test_a_comparison_no_source_can_fill_is_refused_at_load_and_changes_nothing(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "w", 'first_name = "name"\nlast_name = "name"\nbirth_date = "date"')
    invoke("run", "-w", str(root))
    before = _store_state(root)
    assert "personae.duckdb" in before
    toml = (root / "personae.toml").read_text(encoding="utf-8")
    for wrong, hint in (
        ("frist_name", "did you mean 'first_name' (mapped by source 'febrl')?"),  # a typing slip
        ("date_of_birth", "source 'febrl' maps its column 'date_of_birth' to birth_date"),  # the file's name
    ):
        original = "first_name" if wrong == "frist_name" else "birth_date"
        (root / "personae.toml").write_text(toml.replace(f'\n{original} = "', f'\n{wrong} = "'), encoding="utf-8")
        message = refused(root, "run")
        assert message.startswith(f"{root / 'personae.toml'}: identity.fuzzy.compare.{wrong} = "), message
        assert hint in message, message
        assert _store_state(root) == before


def test_an_unknown_comparison_kind_is_a_config_error_with_the_nearest(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "w", 'last_name = "name"\nbirth_date = "dates"')
    message = refused(root, "run")
    assert "compare.birth_date = 'dates'" in message and "did you mean 'date'" in message


def test_a_blocking_rule_over_every_pair_is_refused_with_its_size(tmp_path: Path) -> None:
    rule = '"l.state = r.state or l.postcode = r.postcode"'
    compare = 'last_name = "name"\nstate = "exact"\npostcode = "postcode"'
    root = small_workspace(tmp_path / "w", compare, f"blocking = [{rule}]")
    message = refused(root, "run")
    with duckdb.connect(str(root / "personae.duckdb"), read_only=True) as store:
        (count,) = store.execute("SELECT count(*) FROM customer_records").fetchone()  # type: ignore[misc]
    assert count >= 399
    assert f"would compare every pair of the {count:,} customer records: {count * (count - 1) // 2:,} pairs" in message


def test_every_comparison_kind_is_in_the_recipe() -> None:
    from personae.identity.comparisons import COMPARISON_KINDS

    text = RECIPE.read_text(encoding="utf-8")
    assert [kind for kind in COMPARISON_KINDS if f"| `{kind}` |" not in text] == []


def record_groups(root: Path) -> set[frozenset[str]]:
    """The Febrl records linked together, as sets of record ids (UIDs differ by workspace salt)."""
    shown = json.loads(
        invoke(
            "sql",
            "SELECT uid, list(record_id ORDER BY record_id) AS ids FROM record_map GROUP BY uid",
            "-w",
            str(root),
            "-f",
            "json",
        )
    )
    return {frozenset(row["ids"]) for row in shown}


@pytest.mark.spark
@pytest.mark.slow
def test_a_spark_workspace_links_the_records_duckdb_links(
    febrl3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 5,000 records, under identity.matching.LOCAL_RECORDS: the driver's DuckDB scores the
    # pairs with the model it trained, and Splink's Spark backend is never loaded
    backends: list[str] = []
    load = FuzzyMatcher.load

    def spied(path: Path, **options: Any) -> FuzzyMatcher:
        backends.append(options.get("backend", "duckdb"))
        return load(path, **options)

    monkeypatch.setattr(FuzzyMatcher, "load", spied)
    root = make_workspace(tmp_path / "febrl", "febrl3.csv", recipe_config())
    for step in ("ingest", "identity"):
        invoke("run", "-w", str(root), "--engine", "spark", "--only", step)
    on_spark, on_duckdb = record_groups(root), record_groups(febrl3)
    assert sum(len(group) > 1 for group in on_duckdb) > 1000  # the fuzzy links, not only exact ones
    assert on_spark == on_duckdb
    assert "spark" not in backends
