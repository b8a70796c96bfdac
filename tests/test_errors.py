"""The error tree, walked: every error lives in errors.py, is drawn in its tree, and each kind
of user mistake reaches a CLI user as one line (``error: …``, exit 2), never a traceback."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

import personae
from personae import errors
from personae.cli import main
from personae.engine.store_schema import SCHEMA_VERSION
from personae.errors import PersonaeError
from personae.store_lock import StoreLock
from tests.stores import FIXTURES as STORE_FIXTURES
from tests.stores import stamp_version, unpack_store
from tests.workspaces import (
    CRM_CSV,
    CRM_IDENTITY,
    CRM_SOURCE,
    POS_CSV,
    POS_SOURCE,
    WEB_JSONL,
    WEB_SOURCE,
    write_workspace,
)

AS_OF = date(2024, 3, 1)
NOT_A_CLI_MISTAKE = {
    "PersonaeError": "the root: every case below is one",
    "NotFound": "the parent of PersonNotFound and NothingToExplain",
    "FuzzyError": "the parent of the fuzzy errors below",
    "SourceError": "a source that cannot be read is reported in the run summary (exit 1), the others load",
    "SourceNotFound": "reported in the run summary (exit 1): tests/sources/test_bad_input.py",
    "MappingError": "reported in the run summary (exit 1): tests/sources/test_bad_input.py",
    "SourceUnreachable": "reported in the run summary (exit 1): tests/sources/test_postgres.py",
    "UnsupportedFeature": "needs a Spark session; tests/engine/test_dialects.py raises it",
    "FuzzySettingsError": "raised by FuzzyMatcher's arguments in Python; in personae.toml it is a ConfigError",
    "FuzzyInputError": "records the Python API gives the matcher; the identity step builds them itself",
    "FuzzyTrainingError": "the identity step turns it into a run warning (fuzzy matching skipped)",
    "FuzzyModelOutdated": "the identity step retrains and warns: tests/identity/test_fuzzy.py",
    "JournalError": "an HTTP answer of personae serve (503), not a command",
    "JournalBusy": "an HTTP answer of personae serve (429), not a command",
    "InvalidRecord": "an HTTP answer of personae serve (400), not a command",
    "InvalidMessage": "an HTTP answer of personae serve (400/413/415), not a command",
    "DestinationError": "a failed sync (exit 1, the reason in `personae destinations`): tests/activation/test_sync.py",
    "DestinationUnreachable": "a failed sync (exit 1): the receiver-down tests of tests/activation",
}


def _error_classes() -> dict[str, type[PersonaeError]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, PersonaeError)
    }


def test_every_error_is_in_errors_py_and_drawn_in_its_tree() -> None:
    defined = _error_classes()
    assert len(defined) >= 20
    for name in defined:
        drawn = [line.split("── ")[-1].split()[0] for line in (errors.__doc__ or "").splitlines() if "── " in line]
        assert name in [*drawn, "PersonaeError"], f"{name} is not drawn in the tree of errors.py"
    elsewhere = []
    for module in pkgutil.walk_packages(personae.__path__, "personae."):
        if module.name == "personae.__main__":  # runs the command line when imported
            continue
        loaded = importlib.import_module(module.name)
        for name, value in vars(loaded).items():
            if isinstance(value, type) and issubclass(value, PersonaeError) and value.__module__ != "personae.errors":
                elsewhere.append(f"{module.name}.{name}")
    assert elsewhere == []


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_workspace(
        tmp_path_factory.mktemp("errors") / "shop",
        [POS_SOURCE, WEB_SOURCE],
        {"data/pos/a.csv": POS_CSV, "data/web/a.jsonl": WEB_JSONL},
        segments=[{"name": "big", "rule": "revenue > 50"}],
    )
    personae.Workspace(root).run(as_of=AS_OF)
    return root


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["personae", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0), capsys.readouterr().err


@pytest.fixture
def bad_toml(tmp_path: Path) -> Path:
    return write_workspace(tmp_path / "typo", [POS_SOURCE], {}, workspace={"name": "x", "curency": "EUR"})


Case = Callable[[Path, Path], list[str]]


def _segmentation_overlaps(shop: Path, tmp: Path) -> list[str]:
    root = write_workspace(
        tmp / "overlap",
        [POS_SOURCE],
        {"data/pos/a.csv": POS_CSV},
        segmentations=[{"name": "tiers", "kind": "rules", "segments": {"all": "orders >= 0", "some": "orders > 0"}}],
    )
    return ["run", "-w", str(root), "--as-of", "2024-03-01"]


def _corrupt_model(shop: Path, tmp: Path) -> list[str]:
    root = write_workspace(tmp / "corrupt", [POS_SOURCE], {"data/pos/a.csv": POS_CSV})
    (root / "models").mkdir()
    (root / "models/clv.json").write_text("{not json")
    return ["models", "-w", str(root)]


def _corrupt_fuzzy_model(shop: Path, tmp: Path) -> list[str]:
    root = write_workspace(tmp / "fuzzy", [CRM_SOURCE], {"data/crm.csv": CRM_CSV}, identity=CRM_IDENTITY)
    personae.Workspace(root).run(as_of=AS_OF)
    (root / "models").mkdir(exist_ok=True)
    (root / "models/identity_fuzzy.json").write_text('{"format": "something else"}')
    return ["identity", "explain", "crm:K1", "crm:K2", "-w", str(root)]


def _newer_store(shop: Path, tmp: Path) -> list[str]:
    root = unpack_store(STORE_FIXTURES / f"v{SCHEMA_VERSION}.tar.gz", tmp)
    stamp_version(root, SCHEMA_VERSION + 1, "9.9.9")
    return ["status", "-w", str(root)]


def _two_config_problems(shop: Path, tmp: Path) -> list[str]:
    """A source's ``name`` misspelt: the key is unknown and the name is missing, one message each."""
    source = {("nmae" if key == "name" else key): value for key, value in POS_SOURCE.items()}
    return ["status", "-w", str(write_workspace(tmp / "two", [source], {}))]


CASES: dict[str, list[tuple[Case, str]]] = {
    "ConfigError": [
        (lambda shop, tmp: ["status", "-w", str(tmp / "typo")], "did you mean 'currency'?"),
        (_two_config_problems, "sources.0.name: Field required; "),
    ],
    "UsageError": [
        (lambda shop, tmp: ["run", "--only", "ingset", "-w", str(shop)], "no step named 'ingset'; did you mean"),
        (lambda shop, tmp: ["sql", "  ", "-w", str(shop)], "the query is empty"),
    ],
    "WorkspaceError": [
        (lambda shop, tmp: ["status", "-w", str(tmp / "nowhere")], "no such workspace"),
        (lambda shop, tmp: ["init", str(shop)], "already exists"),
    ],
    "StoreLockedError": [(lambda shop, tmp: ["run", "-w", str(shop)], "is held for writing by pid")],
    "StoreVersionError": [(_newer_store, "written by personae 9.9.9; this personae")],
    "InvalidRule": [(lambda shop, tmp: ["segment", "add", "x", "revenue >", "-w", str(shop)], "rule 'x'")],
    "SegmentationError": [(_segmentation_overlaps, "not exhaustive and exclusive")],
    "PersonNotFound": [(lambda shop, tmp: ["profile", "email:nobody@nowhere.org", "-w", str(shop)], "no person has")],
    "NothingToExplain": [(lambda shop, tmp: ["identity", "explain", "a:1", "b:2", "-w", str(shop)], "no fuzzy model")],
    "EngineError": [(lambda shop, tmp: ["sql", "select * from nowhere", "-w", str(shop)], "duckdb failed")],
    "ModelFitError": [(_corrupt_model, "not a saved clv model")],
    "FuzzyModelError": [(_corrupt_fuzzy_model, "not a personae fuzzy model")],
    "(bad option)": [
        (lambda shop, tmp: ["run", "--as-of", "2024-13-01", "-w", str(shop)], "is not a date"),
        (lambda shop, tmp: ["run", "--engine", "postgres", "-w", str(shop)], "unknown engine 'postgres'"),
        (lambda shop, tmp: ["status", "--bogus"], "No such option: --bogus"),
    ],
}


def test_every_error_is_a_cli_case_or_says_why_not() -> None:
    assert sorted(_error_classes()) == sorted([*NOT_A_CLI_MISTAKE, *(k for k in CASES if not k.startswith("("))])


@pytest.fixture
def holding(shop: Path) -> Iterator[None]:
    with StoreLock(shop, command="personae serve"):
        yield


@pytest.mark.parametrize(
    ("kind", "index"), [(kind, index) for kind, cases in CASES.items() for index in range(len(cases))]
)
def test_a_user_mistake_is_one_line(
    kind: str,
    index: int,
    shop: Path,
    bad_toml: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    build, expected = CASES[kind][index]
    args = build(shop, tmp_path)
    if kind == "StoreLockedError":
        request.getfixturevalue("holding")
    code, err = _run(monkeypatch, capsys, *args)
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and expected in err
    assert [line for line in lines[1:] if not line.startswith(" ")] == [], (
        "one line (a rule's excerpt may follow, indented)"
    )
