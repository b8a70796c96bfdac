"""The Markdown tables of ``bench/server.py``: one per part, medians over the repetitions, and
the issue's four targets read against them.

Ratios to the ceiling are taken repetition by repetition (the bare app and the real server
measured minutes apart under the same other load), then the median, as in
``bench/server_stack.py``.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from server_lookup import breakdown_table

TARGET_EVENTS = 20_000
TARGET_TRACK_RPS = 3_000
TARGET_CHANGE_P99_MS = 50.0
TARGET_LOOKUP_P99_MS = 10.0
CEILING_OF = {"batch": "bare POST, batch body", "track": "bare POST, track body"}


def one_line(run: dict[str, Any]) -> str:
    """Progress: a run in one line."""
    if run["part"] == "changes":
        return (
            f"changes ({run['cell']}): background {run['background_rps']:,.0f}/s, {run['probes']} probes, "
            f"{run['matched']} matched, {run['missed']} missed, p99 {_ms(run['p99_ms'])} ms {run['note']}"
        )
    if run["part"] == "lookup":
        return f"lookup {run['store']}: median {run['median_ms']:.1f} ms over {run['lookups']} lookups"
    return (
        f"{run['part']} {run['cell']} {run.get('store', '')}: {run['rps']:,.0f} req/s, p50 {run['p50_us'] / 1000:.2f} "
        f"ms, p99 {run['p99_us'] / 1000:.2f} ms, {run['errors']} errors, other load {run['other_cpu']:.2f}"
    )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _median(runs: Iterable[dict[str, Any]], get: Callable[[dict[str, Any]], float | None]) -> float | None:
    values = [v for v in (get(r) for r in runs) if v is not None]
    return statistics.median(values) if values else None


def _each(runs: list[dict[str, Any]], key: str, form: str, scale: float = 1.0) -> str:
    """Every repetition's value, in order."""
    return ", ".join(form.format(r[key] * scale) for r in runs)


def _groups(runs: list[dict[str, Any]], part: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        if run["part"] == part:
            groups[(run.get("store", ""), run["cell"])].append(run)
    return groups


def _vs_ceiling(part: str, cell_runs: list[dict[str, Any]], runs: list[dict[str, Any]]) -> str:
    bare = {r["rep"]: r["rps"] for r in runs if r["part"] == "ceiling" and r["cell"] == CEILING_OF.get(part)}
    ratios = [r["rps"] / bare[r["rep"]] for r in cell_runs if r["rep"] in bare]
    return f"{statistics.median(ratios):.2f}×" if ratios else ""


def tracking_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"### Tracking: wrk, {runs[0].get('connections', 64) if runs else 64} connections\n",
        "| part | endpoint | req/s | events/s | server-counted events/s | p50 ms | p99 ms | vs ceiling "
        "| server CPU | server CPU µs/req | wrk CPU | other load | errors | runs req/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for part in ("ceiling", "batch", "track"):
        for (_, cell), cell_runs in _groups(runs, part).items():
            rps = _median(cell_runs, lambda r: r["rps"]) or 0.0
            counted = _median(cell_runs, lambda r: r.get("counted_per_s"))
            cpu_us = _median(cell_runs, lambda r: 1e6 * r["server_cpu"] / r["rps"] if r["rps"] else None)
            lines.append(
                f"| {part} | {cell} | {rps:,.0f} | {rps * cell_runs[0]['events']:,.0f} "
                f"| {'' if counted is None else f'{counted:,.0f}'} "
                f"| {_median(cell_runs, lambda r: r['p50_us'] / 1000):.2f} "
                f"| {_median(cell_runs, lambda r: r['p99_us'] / 1000):.2f} | {_vs_ceiling(part, cell_runs, runs)} "
                f"| {_median(cell_runs, lambda r: r['server_cpu']):.2f} | {cpu_us or 0:.0f} "
                f"| {_median(cell_runs, lambda r: r['wrk_cpu']):.2f} "
                f"| {_median(cell_runs, lambda r: r['other_cpu']):.2f} "
                f"| {sum(r['errors'] for r in cell_runs)} | {_each(cell_runs, 'rps', '{:,.0f}')} |"
            )
    return [*lines, ""]


def changes_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "### Event → change on `/v1/changes`, under background `/v1/track` load (open loop)\n",
        "| store | path | probing s | background offered/s | achieved/s | background p50 ms | background p99 ms "
        "| background errors | probes | changes seen | probes known to the store | matched | missed (> grace) "
        "| p50 ms | p99 ms | max ms | first change, any segment: probes, p99 ms | feed reconnects "
        "| server CPU | other load | runs p99 ms | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for (store, cell), cell_runs in _groups(runs, "changes").items():

        def med(key: str, rs: list[dict[str, Any]] = cell_runs) -> float | None:
            return _median(rs, lambda run: run.get(key))

        notes = "; ".join(dict.fromkeys(r["note"] for r in cell_runs if r["note"]))
        entered: dict[str, int] = defaultdict(int)
        for r in cell_runs:
            for key, count in r["probe_segments"].items():
                entered[key] += count
        if entered:
            notes += f" (probes' entries: {', '.join(f'{k} {v}' for k, v in sorted(entered.items()))})"
        if med("run_seconds") is not None:
            notes += f" (batch run: {med('run_seconds'):.1f} s)"
        lines.append(
            f"| {store} | {cell} | {med('seconds') or 0:.0f} | {med('rate') or 0:,.0f} "
            f"| {med('background_rps') or 0:,.0f} "
            f"| {_ms(med('background_p50_ms'))} | {_ms(med('background_p99_ms'))} "
            f"| {sum(r['background_errors'] for r in cell_runs)} | {sum(r['probes'] for r in cell_runs)} "
            f"| {sum(r['changes_seen'] for r in cell_runs)} | {sum(r['probes_known'] for r in cell_runs)} "
            f"| {sum(r['matched'] for r in cell_runs)} | {sum(r['missed'] for r in cell_runs)} "
            f"| {_ms(med('p50_ms'))} | {_ms(med('p99_ms'))} | {_ms(med('max_ms'))} "
            f"| {sum(r['any_matched'] for r in cell_runs)}, {_ms(med('any_p99_ms'))} "
            f"| {sum(r['reconnects'] for r in cell_runs)} "
            f"| {med('server_cpu') or 0:.2f} | {med('other_cpu') or 0:.2f} "
            f"| {', '.join(_ms(r['p99_ms']) for r in cell_runs)} | {notes} |"
        )
    return [*lines, ""]


def profile_table(runs: list[dict[str, Any]], cache: Path) -> list[str]:
    lines = [
        "### Profile lookups `GET /v1/profiles/email:…` (e-mails sampled from the store)\n",
        "| store | profiles | load | req/s | p50 ms | p99 ms | max ms | errors (timeouts) "
        "| server CPU | server CPU µs/req | other load | runs req/s | runs p99 ms |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for (store, cell), cell_runs in _groups(runs, "profile").items():
        rps = _median(cell_runs, lambda r: r["rps"]) or 0.0
        cpu_us = _median(cell_runs, lambda r: 1e6 * r["server_cpu"] / r["rps"] if r["rps"] else None)
        lines.append(
            f"| {store} | {_profiles(cache, store)} | {cell} | {rps:,.1f} "
            f"| {_median(cell_runs, lambda r: r['p50_us'] / 1000):.1f} "
            f"| {_median(cell_runs, lambda r: r['p99_us'] / 1000):.1f} "
            f"| {_median(cell_runs, lambda r: r['max_us'] / 1000):.1f} "
            f"| {sum(r['errors'] for r in cell_runs)} ({sum(r['timeouts'] for r in cell_runs)}) "
            f"| {_median(cell_runs, lambda r: r['server_cpu']):.2f} | {cpu_us or 0:,.0f} "
            f"| {_median(cell_runs, lambda r: r['other_cpu']):.2f} "
            f"| {_each(cell_runs, 'rps', '{:,.1f}')} "
            f"| {_each(cell_runs, 'p99_us', '{:,.1f}', 1e-3)} |"
        )
    return [*lines, ""]


def _profiles(cache: Path, store: str) -> str:
    info = cache / store / "build.json"
    return f"{json.loads(info.read_text())['profiles']:,}" if info.exists() else "?"


def stores_table(runs: list[dict[str, Any]], cache: Path) -> list[str]:
    names = sorted({r["store"] for r in runs if r.get("store")})
    lines = [
        "### Stores (built once through the CLI: `personae init --demo`, `personae run`; cached)\n",
        "| store | profiles | events | `personae init` s | `personae run` s | size on disk | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]

    def seconds(value: float | None) -> str:
        return "–" if value is None else f"{value:,.0f}"

    for name in names:
        path = cache / name / "build.json"
        if path.exists():
            info = json.loads(path.read_text())
            lines.append(
                f"| {name} | {info['profiles']:,} | {info['events']:,} | {seconds(info['init_s'])} "
                f"| {seconds(info['run_s'])} | {info['bytes'] / 2**30:.1f} GiB | {info.get('note', '')} |"
            )
    return [*lines, ""]


def targets(runs: list[dict[str, Any]], big: str | None) -> list[str]:
    """The issue's four targets, each met, not met, or not measurable, from the medians."""

    def verdict(value: float | None, ok: Callable[[float], bool]) -> str:
        return "not measured" if value is None else ("**met**" if ok(value) else "**not met**")

    batch = [r for r in runs if r["part"] == "batch"]
    track = [r for r in runs if r["part"] == "track"]
    changes = [r for r in runs if r["part"] == "changes" and r["cell"] == "live"]
    events = _median(batch, lambda r: r["rps"] * r["events"])
    rps = _median(track, lambda r: r["rps"])
    change = _median(changes, lambda r: r["p99_ms"])
    lines = ["### Targets (medians of the repetitions)\n", "| target | measured | verdict |", "|---|---|---|"]
    lines.append(
        f"| ≥ {TARGET_EVENTS:,} events/s durable through `/v1/batch` | {_num(events)} events/s "
        f"| {verdict(events, lambda v: v >= TARGET_EVENTS)} |"
    )
    lines.append(
        f"| ≥ {TARGET_TRACK_RPS:,} single `/v1/track` requests/s | {_num(rps)} requests/s "
        f"| {verdict(rps, lambda v: v >= TARGET_TRACK_RPS)} |"
    )
    if changes and change is None:
        lines.append(
            f"| p99 event → change ≤ {TARGET_CHANGE_P99_MS:.0f} ms | no change seen | **not measurable yet** |"
        )
    else:
        lines.append(
            f"| p99 event → change ≤ {TARGET_CHANGE_P99_MS:.0f} ms | {_ms(change)} ms "
            f"| {verdict(change, lambda v: v <= TARGET_CHANGE_P99_MS)} |"
        )
    paced = [r for r in runs if r["part"] == "profile" and r["store"] == big and "×" in r["cell"]]
    p99 = _median(paced, lambda r: r["p99_us"] / 1000)
    achieved = _median(paced, lambda r: r["rps"])
    shown = "not measured (no big store)" if p99 is None else f"{p99:,.1f} ms at {achieved:,.1f} requests/s"
    if p99 is not None and not achieved:
        single = _median(
            [r for r in runs if r["part"] == "profile" and r["store"] == big and "×" not in r["cell"]],
            lambda r: r["p99_us"] / 1000,
        )
        shown = f"no lookup completed within wrk's 2 s timeout; one at a time, p99 {_ms(single)} ms"
    lines.append(
        f"| p99 profile lookup ≤ {TARGET_LOOKUP_P99_MS:.0f} ms at 1,000 requests/s, 1M people | {shown} "
        f"| {verdict(p99, lambda v: v <= TARGET_LOOKUP_P99_MS and (achieved or 0) >= 950)} |"
    )
    return [*lines, ""]


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def report(runs: list[dict[str, Any]], cache: Path) -> str:
    stores = {r["store"] for r in runs if r["part"] == "profile"}
    big = max(stores, key=lambda s: int(s.split("-c")[1].split("-")[0]), default=None) if len(stores) > 1 else None
    lines = [f"Command: `{runs[-1]['command']}`\n" if runs else ""]
    lines += stores_table(runs, cache)
    if any(r["part"] in ("ceiling", "batch", "track") for r in runs):
        lines += tracking_table(runs)
    if any(r["part"] == "changes" for r in runs):
        lines += changes_table(runs)
    if any(r["part"] == "profile" for r in runs):
        lines += profile_table(runs, cache)
    for run in runs:
        if run["part"] == "lookup":
            lines.append(breakdown_table(f"Where a lookup's time goes, {run['store']}", run))
    lines += targets(runs, big)
    return "\n".join(lines)
