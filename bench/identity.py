"""Identity resolution against its lower bounds: scipy for stitching, plain Splink for matching.

Two parts; every measurement runs in a fresh process, several times.

stitch: deterministic identity resolution on a demo world of N people (default 1M),
generated and ingested once into ``OUT/identity/world-N/`` and reused:

- personae: ``Workspace.run(only="identity")`` with fuzzy matching and incremental runs
  off, on a fresh copy of the ingested store (identifiers and edges out of the store,
  components, per-type limits, stable UIDs, the identity tables written back);
- bare scipy: the same edges (the ``identity_edges`` personae wrote, as node numbers of
  ``identifiers``), already in memory as numpy arrays: ``csr_matrix`` built (timed
  apart), then ``connected_components(directed=False)`` alone, the lower bound;
- floor: bare scipy plus the one write the store's shape requires, ``identity_map``'s rows
  (type, value, UID; copied from personae's run into memory first, untimed) written to a
  fresh DuckDB file by ``CREATE TABLE … AS``. No stitching that ends in that table can be
  faster on this machine.

fuzzy: probabilistic matching, fit + predict from an Arrow table in memory, scored the way
tests/identity/test_fuzzy.py scores it (every pair of records inside a connected component
of the predicted links counts as predicted; pairwise precision, recall, F1):

- febrl3 (5,000 records, soc_sec_id compared too) and 100k CRM records of a demo world
  (all the CRM records of people drawn at random, so a person's duplicates stay together);
- personae: ``FuzzyMatcher(FuzzySettings(...)).fit(records).predict(records)``;
- plain splink: Splink on DuckDB as its tutorials set it up: values lower-cased and
  trimmed in SQL, Splink's stock comparisons (names, date of birth, Jaro-Winkler on street
  and city, Levenshtein on codes), personae's blocking rules and threshold, the prior from
  deterministic rules (recall 0.7), ``u`` by random sampling, EM over two blocking rules.

    .venv/bin/python bench/identity.py [--people 1000000] [--crm-records 100000] \\
        [--repeat 3] [--parts stitch,fuzzy] [--out bench/out]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

SEED = 7
CRM_PEOPLE_PER_RECORD = 1.3
"""People to generate per CRM record wanted (the CRM holds about 0.8 records per person)."""
FEBRL3 = Path(__file__).resolve().parents[2] / "shared" / "data" / "febrl3.csv"
COMPARED = ("first_name", "last_name", "birth_date", "street", "city", "postcode", "phone")
PHASES = {
    "graph": "identifiers and links built from the records and events",
    "components": "links out of the store, scipy, labels back in",
    "uids": "per-type limits, stable UIDs",
    "map": "identity_map written (a part of `write`)",
    "write": "identity tables written (record_map among them)",
}
"""The identity step's own phase timings (``IdentityResult.seconds``), in step order."""
STITCH_PHASES = ("components", "uids", "map")
"""The phases the issue calls stitching: edges out of the store, components, UIDs back in (identity_map)."""
TIMEOUT = 3600
"""Seconds one measured process may take before the benchmark gives up."""


# -- data ----------------------------------------------------------------------------


def prepare_world(folder: str, people: int) -> dict[str, Any]:
    """Generate and ingest a demo world once; deterministic identity only, full runs."""
    import tomli_w

    from personae import Workspace

    world = Path(folder)
    shutil.rmtree(world, ignore_errors=True)
    started = time.perf_counter()
    workspace = Workspace.init(world, demo=True, customers=people, seed=SEED)
    generated = time.perf_counter() - started
    config = world / "personae.toml"
    data = tomllib.loads(config.read_text())
    data["identity"] = {"incremental": False, "fuzzy": {"enabled": False}}
    config.write_text(tomli_w.dumps(data))
    workspace = Workspace(world)
    started = time.perf_counter()
    report = workspace.run(only="ingest")
    assert not report.errors, report.errors
    facts = {"people": people, "generate_s": generated, "ingest_s": time.perf_counter() - started}
    (world / "ready.json").write_text(json.dumps(facts))
    return facts


def prepare_febrl3(target: Path) -> None:
    """febrl3 as customer records (the mapping of tests/identity/test_fuzzy.py) and its truth."""
    import duckdb

    sql = f"""
        SELECT trim(rec_id) AS record_key,
               split_part(trim(rec_id), '-', 2) AS person,
               given_name AS first_name,
               surname AS last_name,
               try_strptime(trim(date_of_birth), '%Y%m%d')::DATE AS birth_date,
               concat_ws(' ', nullif(trim(street_number), ''), nullif(trim(address_1), '')) AS street,
               suburb AS city,
               postcode,
               NULL::VARCHAR AS phone,
               soc_sec_id
        FROM read_csv('{FEBRL3}', all_varchar = true, header = true)
    """
    with duckdb.connect() as con:
        con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")


def prepare_crm(target: Path, folder: Path, records: int) -> None:
    """``records`` CRM records of a fresh demo world: all the records of people drawn at random."""
    import duckdb

    from personae.demo import generate

    shutil.rmtree(folder, ignore_errors=True)
    generate(folder, customers=round(records * CRM_PEOPLE_PER_RECORD), seed=SEED)
    crm, truth = folder / "data" / "crm" / "customers.csv", folder / "truth" / "records.csv"
    sql = f"""
        WITH owners AS (
            SELECT record_id, person_id FROM read_csv('{truth}', all_varchar = true) WHERE source = 'crm'
        ), drawn AS (
            SELECT person_id, sum(count(*)) OVER (ORDER BY hash(person_id), person_id) AS running
            FROM owners GROUP BY person_id
        )
        SELECT c.crm_id AS record_key, o.person_id AS person, c.first_name, c.last_name,
               try_strptime(c.dob, '%m/%d/%Y')::DATE AS birth_date, c.street, c.city,
               c.zip AS postcode, c.phone
        FROM read_csv('{crm}', all_varchar = true) AS c
        JOIN owners AS o ON o.record_id = c.crm_id
        JOIN drawn AS d ON d.person_id = o.person_id
        WHERE d.running <= {records}
        ORDER BY c.crm_id
    """
    with duckdb.connect() as con:
        con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")
    shutil.rmtree(folder)


# -- measured workers (each in a fresh process) ----------------------------------------


def stitch_personae(source: str, target: str) -> dict[str, Any]:
    from personae import Workspace

    world, scratch = Path(source), Path(target)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copy(world / "personae.toml", scratch / "personae.toml")
    shutil.copy(world / "personae.duckdb", scratch / "personae.duckdb")
    started = time.perf_counter()  # the copy is excluded: it is the starting state
    report = Workspace(scratch).run(only="identity")
    seconds = time.perf_counter() - started
    assert not report.errors, report.errors
    step = report.steps[0]
    return {"seconds": seconds, "step_s": step.seconds, "result": vars(step.details["identity"])}


def export_edges(scratch: str, target: str) -> dict[str, Any]:
    """The edges personae wrote, as node numbers, to ``target`` (.npz); and the graph's counts."""
    import duckdb
    import numpy as np

    with duckdb.connect(str(Path(scratch) / "personae.duckdb"), read_only=True) as con:
        con.execute(
            "CREATE TEMP TABLE keyed AS SELECT id_type || ':' || id_value AS id_key, node "
            "FROM identifiers WHERE status = 'ok'"
        )
        edges = con.execute(
            "SELECT x.node AS a, y.node AS b FROM identity_edges AS e "
            "JOIN keyed AS x ON x.id_key = e.a_key JOIN keyed AS y ON y.id_key = e.b_key"
        ).fetchnumpy()

        def one(sql: str) -> int:
            return int(con.execute(sql).fetchall()[0][0])

        carrying = " OR ".join(
            f"{c} IS NOT NULL" for c in ("user_id", "anonymous_id", "email", "phone", "loyalty_id", "crm_id")
        )
        counts = {
            "nodes": one("SELECT max(node) + 1 FROM identifiers WHERE status = 'ok'"),
            "identifiers": one("SELECT count(*) FROM identifiers"),
            "links": one("SELECT count(*) FROM identity_edges"),
            "record_map": one("SELECT count(*) FROM record_map"),
            "customer_records": one("SELECT count(*) FROM customer_records"),
            "events": one("SELECT count(*) FROM events"),
            "events_with_ids": one(f"SELECT count(*) FROM events WHERE {carrying}"),
            "uids": one("SELECT count(DISTINCT uid) FROM identity_map"),
        }
    assert len(edges["a"]) == counts["links"], "every identity edge should join two usable identifiers"
    np.savez(target, a=edges["a"].astype(np.int32), b=edges["b"].astype(np.int32), nodes=counts["nodes"])
    return counts


def map_write(scratch: str, target: str) -> dict[str, Any]:
    """Seconds to write personae's ``identity_map`` rows, already in memory, to a new store."""
    import duckdb

    folder = Path(target)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with duckdb.connect(str(folder / "floor.duckdb")) as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH '{Path(scratch) / 'personae.duckdb'}' AS run (READ_ONLY)")
        con.execute("CREATE TEMP TABLE rows AS SELECT id_type, id_value, uid FROM run.identity_map")
        con.execute("DETACH run")
        con.execute("SET preserve_insertion_order = false")  # as personae's own writes run
        started = time.perf_counter()
        con.execute("BEGIN")
        written = con.execute("CREATE TABLE identity_map AS SELECT * FROM rows").fetchall()[0][0]
        con.execute("COMMIT")
        seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    return {"seconds": seconds, "rows": int(written)}


def stitch_scipy(edges: str) -> dict[str, Any]:
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    with np.load(edges) as saved:
        a, b, nodes = saved["a"], saved["b"], int(saved["nodes"])
    started = time.perf_counter()
    graph = csr_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(nodes, nodes))
    built = time.perf_counter()
    count, _ = connected_components(graph, directed=False)
    finished = time.perf_counter()
    return {"seconds": finished - built, "build_s": built - started, "components": int(count)}


def fuzzy(runner: str, dataset: str, extra: list[str], threshold: float) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from personae.errors import FuzzyTrainingError
    from personae.identity.fuzzy import FuzzyMatcher, FuzzySettings

    table = pq.read_table(dataset)
    truth = table.column("person").to_pylist()
    records = table.drop_columns(["person"])
    started = time.perf_counter()
    if runner == "personae":
        settings = FuzzySettings(threshold=threshold, extra_columns=tuple(extra))
        try:
            links = FuzzyMatcher(settings).fit(records).predict(records)
        except FuzzyTrainingError as error:
            return {"seconds": time.perf_counter() - started, "error": f"FuzzyTrainingError: {error}"}
    else:
        links = plain_splink(records, tuple(extra), threshold)
    seconds = time.perf_counter() - started
    keys = records.column("record_key").to_pylist()
    left, right = links.column("record_key_l").to_pylist(), links.column("record_key_r").to_pylist()
    return {"seconds": seconds, "links": len(left), **quality(keys, truth, left, right)}


def plain_splink(records: Any, extra: tuple[str, ...], threshold: float) -> Any:
    """A straightforward Splink 5 DuckDB dedupe, as its tutorials set one up."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from personae.identity.fuzzy import FuzzySettings

    con = duckdb.connect()
    con.register("raw", records)

    def text(column: str) -> str:
        return f"nullif(trim(lower({column})), '') AS {column}"

    def code(column: str) -> str:
        return f"nullif(regexp_replace(lower({column}), '[^0-9a-z]', '', 'g'), '') AS {column}"

    cleaned = con.sql(
        f"SELECT record_key, {text('first_name')}, {text('last_name')}, birth_date, {text('street')}, "
        f"{text('city')}, {code('postcode')}, {code('phone')}{''.join(', ' + code(c) for c in extra)} FROM raw"
    ).to_arrow_table()
    present = [c for c in (*COMPARED, *extra) if cleaned.column(c).null_count < cleaned.num_rows]
    comparisons = {
        "first_name": cl.NameComparison("first_name"),
        "last_name": cl.NameComparison("last_name"),
        "birth_date": cl.DateOfBirthComparison("birth_date", input_is_string=False),
        "street": cl.JaroWinklerAtThresholds("street", [0.95, 0.88]),
        "city": cl.JaroWinklerAtThresholds("city", [0.95, 0.88]),
        "postcode": cl.LevenshteinAtThresholds("postcode", [1, 2]),
        "phone": cl.LevenshteinAtThresholds("phone", [1]),
        **{c: cl.LevenshteinAtThresholds(c, [1, 2]) for c in extra},
    }
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[comparisons[c] for c in present],
        blocking_rules_to_generate_predictions=list(FuzzySettings(extra_columns=extra).all_blocking),
        retain_matching_columns=False,
    )
    db_api = DuckDBAPI(con)
    linker = Linker(db_api.register(cleaned), settings)
    deterministic = [
        "l.first_name = r.first_name and l.last_name = r.last_name and l.birth_date = r.birth_date",
        "l.first_name = r.last_name and l.last_name = r.first_name and l.birth_date = r.birth_date",
        *(f"l.{c} = r.{c}" for c in extra),
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=42)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "last_name"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    scored = linker.inference.predict(threshold_match_probability=threshold)
    return scored.as_pyarrow_table().select(["record_key_l", "record_key_r"])


def quality(keys: list[str], truth: list[str], left: list[str], right: list[str]) -> dict[str, float]:
    """Pairwise precision, recall, F1 of the components the links form (as test_fuzzy.py scores)."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    row = {key: number for number, key in enumerate(keys)}
    a = np.array([row[k] for k in left], dtype=np.int64)
    b = np.array([row[k] for k in right], dtype=np.int64)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(len(keys), len(keys)))
    _, labels = connected_components(graph, directed=False)
    _, people = np.unique(np.array(truth), return_inverse=True)

    def pairs(*groups: Any) -> int:
        _, sizes = np.unique(np.stack(groups), axis=1, return_counts=True)
        return int((sizes * (sizes - 1) // 2).sum())

    hits, predicted, actual = pairs(labels, people), pairs(labels), pairs(people)
    precision = hits / predicted if predicted else 0.0
    recall = hits / actual
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


WORKERS = {
    "prepare_world": prepare_world,
    "stitch_personae": stitch_personae,
    "export_edges": export_edges,
    "stitch_scipy": stitch_scipy,
    "map_write": map_write,
    "fuzzy": fuzzy,
}


def worker(kind: str, arguments: list[Any]) -> dict[str, Any]:
    result = WORKERS[kind](*arguments)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


# -- driving ----------------------------------------------------------------------------


def spawn(kind: str, *arguments: Any) -> dict[str, Any]:
    """Run one worker in a fresh process; its last line of output is its JSON result."""
    shipped = [str(a) if isinstance(a, Path) else a for a in arguments]
    command = [sys.executable, __file__, "--worker", json.dumps([kind, shipped])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"{kind} took more than {TIMEOUT} s; try a smaller --people") from None
    if done.returncode != 0:
        raise SystemExit(f"{kind} {arguments} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(repeat: int, kind: str, *arguments: Any) -> dict[str, Any]:
    runs = []
    for _ in range(repeat):
        runs.append(spawn(kind, *arguments))
        if "error" in runs[-1]:  # a deterministic failure: once is enough
            break
    return {
        **runs[-1],
        "seconds": statistics.median(run["seconds"] for run in runs),
        "all": [run["seconds"] for run in runs],
        "peak_mb": max(run["peak_mb"] for run in runs),
        "runs": runs,
    }


def listed(values: list[float], digits: int = 2) -> str:
    return "[" + ", ".join(f"{value:.{digits}f}" for value in values) + "]"


def stitch_part(out: Path, people: int, repeat: int) -> None:
    world = out / f"world-{people}"
    if not (world / "ready.json").exists():
        spawn("prepare_world", world, people)
    facts = json.loads((world / "ready.json").read_text())
    scratch, edges = out / "scratch-stitch", out / f"edges-{people}.npz"
    ours = measure(repeat, "stitch_personae", world, scratch)
    counts = spawn("export_edges", scratch, edges)
    bare = measure(repeat, "stitch_scipy", edges)
    written = measure(repeat, "map_write", scratch, out / "scratch-floor")
    shutil.rmtree(scratch, ignore_errors=True)
    builds = [run["build_s"] for run in bare["runs"]]
    build = statistics.median(builds)
    result = ours["result"]
    print(
        f"### Stitching, {people:,} people (demo world generated in {facts['generate_s']:.0f} s, "
        f"ingested in {facts['ingest_s']:.0f} s, once)\n"
    )
    print(
        f"events: {counts['events']:,} ({counts['events_with_ids']:,} carrying an identifier); "
        f"customer records: {counts['customer_records']:,}; records mapped to a person "
        f"(record_map): {counts['record_map']:,}; identifiers: {counts['identifiers']:,} "
        f"({counts['nodes']:,} usable nodes); links: {counts['links']:,}; people (UIDs): "
        f"{counts['uids']:,}; components found by scipy: {bare['components']:,}; cuts: "
        f"{result['cuts']:,}; runs per cell: {repeat} (median time, max peak RSS)\n"
    )
    print("| part | runner | median s | runs s | peak RSS MB (process) | ratio to bare scipy |")
    print("|---|---|---:|---|---:|---:|")
    phases = {name: [run["result"]["seconds"][name] for run in ours["runs"]] for name in PHASES}
    stitched = [sum(run["result"]["seconds"][name] for name in STITCH_PHASES) for run in ours["runs"]]
    rows = [
        ("stitch", "bare scipy `connected_components`", bare["seconds"], bare["all"], bare["peak_mb"]),
        ("stitch", "bare scipy `csr_matrix` build", build, builds, bare["peak_mb"]),
        ("floor", "bare `identity_map` write (same rows, from memory)", written["seconds"], written["all"], None),
        ("floor", "bare scipy + `identity_map` write", bare["seconds"] + written["seconds"], [], None),
        ("stitch", "personae: links out, components, identity_map", statistics.median(stitched), stitched, None),
        *(("phase", f"personae `{name}`: {PHASES[name]}", statistics.median(v), v, None) for name, v in phases.items()),
        ("step", "personae identity step, end to end", ours["seconds"], ours["all"], ours["peak_mb"]),
    ]
    for part, name, seconds, runs, peak in rows:
        ratio = seconds / bare["seconds"]
        shown = "" if peak is None else f"{peak:,.0f}"
        print(f"| {part} | {name} | {seconds:.3f} | {listed(runs, 3)} | {shown} | {ratio:.1f}× |")
    ratio = statistics.median(stitched) / bare["seconds"]
    whole = ours["seconds"] / bare["seconds"]
    floor = (bare["seconds"] + written["seconds"]) / bare["seconds"]
    print(
        f"\n**Target: stitching end to end (links out of the store, components, UIDs back in) within "
        f"3× of the bare scipy call: {'met' if ratio <= 3 else 'not met'} ({ratio:.1f}×; the floor, "
        f"scipy plus the `identity_map` write alone, is {floor:.1f}×). The whole identity step, which "
        f"first builds the links from every record and event, takes {whole:.0f}×.**\n"
    )


def fuzzy_part(out: Path, crm_records: int, repeat: int) -> None:
    import pyarrow.parquet as pq

    from personae.identity.fuzzy import FuzzySettings

    febrl3, crm = out / "febrl3.parquet", out / f"crm-{crm_records}.parquet"
    if not febrl3.exists():
        prepare_febrl3(febrl3)
    if not crm.exists():
        prepare_crm(crm, out / "crm-world", crm_records)
    threshold = FuzzySettings().threshold
    print(
        f"### Fuzzy matching, fit + predict at threshold {threshold} "
        f"(runs per cell: {repeat}; median time, max peak RSS)\n"
    )
    print(
        "| data set | records | runner | median s | runs s | peak RSS MB | links | precision | recall "
        "| F1 | time / Splink |"
    )
    print("|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|")
    verdicts, errors = [], []
    for name, dataset, extra in (("febrl3", febrl3, ["soc_sec_id"]), ("demo CRM", crm, [])):
        size = pq.read_metadata(dataset).num_rows
        splink = measure(repeat, "fuzzy", "splink", dataset, extra, threshold)
        ours = measure(repeat, "fuzzy", "personae", dataset, extra, threshold)
        for runner, result in (("plain splink", splink), ("personae", ours)):
            print(fuzzy_row(name, size, runner, result, splink["seconds"]))
        if "error" in ours:
            verdicts.append(f"{name}: not met (personae's fit fails)")
            errors.append(f"personae on {name}: {ours['error']}")
            continue
        ratio = ours["seconds"] / splink["seconds"]
        met = ours["f1"] >= splink["f1"] and ratio <= 1.5
        detail = f"F1 {ours['f1']:.4f} vs {splink['f1']:.4f}, time {ratio:.2f}×"
        verdicts.append(f"{name}: {'met' if met else 'not met'} ({detail})")
    print(f"\n**Target: fuzzy matching at least Splink's F1 at ≤ 1.5× its time: {'; '.join(verdicts)}.**\n")
    for error in errors:
        print(f"{error}\n")


def fuzzy_row(name: str, size: int, runner: str, result: dict[str, Any], baseline: float) -> str:
    ratio = f"{result['seconds'] / baseline:.2f}×"
    if "error" in result:
        head = f"| {name} | {size:,} | {runner} | fails after {result['seconds']:.2f} | {listed(result['all'])} | "
        return head + f"{result['peak_mb']:,.0f} | – | – | – | – | {ratio} |"
    return (
        f"| {name} | {size:,} | {runner} | {result['seconds']:.2f} | {listed(result['all'])} | "
        f"{result['peak_mb']:,.0f} | {result['links']:,} | {result['precision']:.4f} | "
        f"{result['recall']:.4f} | {result['f1']:.4f} | {ratio} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--crm-records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parts", default="stitch,fuzzy", help="comma-separated: stitch, fuzzy")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, arguments = json.loads(args.worker)
        print(json.dumps(worker(kind, arguments)))
        return
    out = (args.out / "identity").resolve()
    out.mkdir(parents=True, exist_ok=True)
    parts = set(args.parts.split(","))
    if "stitch" in parts:
        stitch_part(out, args.people, args.repeat)
    if "fuzzy" in parts:
        fuzzy_part(out, args.crm_records, args.repeat)


if __name__ == "__main__":
    main()
