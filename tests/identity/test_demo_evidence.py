"""The evidence truth of a demo world (personae.demo.evidence) on a world small enough to draw by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from personae.demo.evidence import evidence_truth, score_pairs
from personae.sources.normalise import identifier_sql

SOURCES: tuple[dict[str, Any], ...] = (
    {
        "name": "pos",
        "kind": "orders",
        "path": "data/pos.csv",
        "columns": {"order_id": "receipt", "ts": "sold_at", "amount": "total"},
        "identifiers": {"loyalty_id": "card"},
    },
    {"name": "web", "kind": "events", "path": "data/web.jsonl"},
    {
        "name": "crm",
        "kind": "customers",
        "path": "data/crm.csv",
        "columns": {
            "record_id": "id",
            "first_name": "first",
            "last_name": "last",
            "birth_date": "dob",
            "street": "street",
        },
        "identifiers": {"email": "mail", "loyalty_id": "card"},
    },
)

FILES = {
    "data/pos.csv": "receipt,sold_at,total,card\n"
    "R1,2024-01-01,1,1111\n"  # ann: her card is in the CRM too
    "R2,2024-01-02,2, 1111 \n"  # ann again, the card typed with spaces
    "R3,2024-01-03,3,9999\n"  # ann, a card no other system holds
    "R4,2024-01-04,4,\n",  # bob, no card
    "data/web.jsonl": '{"messageId":"m1","type":"page","anonymousId":"a1"}\n'
    '{"messageId":"m2","type":"identify","anonymousId":"a1","traits":{"email":" Bob@Example.org"}}\n'
    '{"messageId":"m3","type":"page","anonymousId":"a2"}\n',  # cy, never identified
    "data/crm.csv": "id,first,last,dob,street,mail,card\n"
    "C1,Ann,Lee,1980-01-02,,,1111\n"
    "C2,Anne,Lee,1980-01-02,,,\n"  # ann's duplicate: no identifier, but names and a birth date
    "C3,Bob,Ray,,1 High St,bob@example.org,\n"
    "C4,Bob,Ray,,,,\n"  # bob's second record: names only, nothing a matcher could go on
    "C5,Dee,Ray,,,bob@example.org,\n",  # dee shares bob's address: one person to the oracle
}

TRUTH = (
    "source,record_id,person_id\n"
    "pos,R1,ann\npos,R2,ann\npos,R3,ann\npos,R4,bob\n"
    "web,m1,bob\nweb,m2,bob\nweb,m3,cy\n"
    "crm,C1,ann\ncrm,C2,ann\ncrm,C3,bob\ncrm,C4,bob\ncrm,C5,dee\n"
)


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("world")
    for relative, text in {**FILES, "truth/records.csv": TRUTH}.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    table = evidence_truth(Path(root), SOURCES, lambda id_type, value: identifier_sql(id_type, value, "US"))
    return {f"{row['source']}:{row['record_id']}": row for row in table.to_pylist()}


def _clusters(rows: dict[str, dict[str, Any]], column: str) -> set[frozenset[str]]:
    found: dict[Any, set[str]] = {}
    for key, row in rows.items():
        found.setdefault(row[column], set()).add(key)
    return {frozenset(members) for members in found.values()}


def test_records_tied_by_identifiers_and_by_names_with_a_birth_date_form_one_cluster(
    evidence: dict[str, dict[str, Any]],
) -> None:
    assert _clusters(evidence, "evidence") == {
        frozenset({"pos:R1", "pos:R2", "crm:C1", "crm:C2"}),  # card (spaces trimmed), then names + birth date
        frozenset({"pos:R3"}),  # a card no other system holds
        frozenset({"pos:R4"}),
        frozenset({"web:m1", "web:m2", "crm:C3"}),  # anonymous id, then the e-mail as normalised
        frozenset({"crm:C4"}),  # names alone are not enough
        frozenset({"web:m3"}),
        frozenset({"crm:C5"}),  # the shared e-mail is another person's: evidence stays within a person
    }


def test_the_oracle_links_on_shared_identifiers_only_and_across_people(evidence: dict[str, dict[str, Any]]) -> None:
    oracle = _clusters(evidence, "oracle")
    assert frozenset({"pos:R1", "pos:R2", "crm:C1"}) in oracle  # no fuzzy link to crm:C2
    assert frozenset({"crm:C2"}) in oracle
    assert frozenset({"web:m1", "web:m2", "crm:C3", "crm:C5"}) in oracle  # bob and dee share an address


def test_pairs_are_scored_against_the_evidence_and_the_raw_truth(evidence: dict[str, dict[str, Any]]) -> None:
    predicted = {  # a resolver that misses ann's duplicate, links a singleton right and dee wrongly
        "pos:R1": "x",
        "pos:R2": "x",
        "crm:C1": "x",
        "pos:R3": "x",
        "crm:C2": "y",
        "web:m1": "z",
        "web:m2": "z",
        "crm:C3": "z",
        "crm:C5": "z",
    }
    rows = [{**row, "uid": predicted.get(key, key)} for key, row in evidence.items()]
    table = pa.Table.from_pylist(rows)
    against_evidence = score_pairs(table, "uid")
    # evidence pairs: 6 in ann's cluster of 4, 3 in bob's of 3; linked: 3 of ann's and all 3 of bob's
    assert (against_evidence.true_positives, against_evidence.missed) == (6, 3)
    assert against_evidence.false_positives == 3  # dee with each of bob's three records
    assert against_evidence.ignored == 3  # pos:R3 with R1, R2, C1: right, though nothing asks for it
    assert against_evidence.recall == pytest.approx(6 / 9)
    assert against_evidence.precision == pytest.approx(6 / 9)
    raw = score_pairs(table, "uid", "person_id")
    assert raw.ignored == 0 and raw.false_positives == 3
    assert raw.true_positives == 9  # ann's R1, R2, R3, C1 (6 pairs) and bob's m1, m2, C3 (3)
    assert raw.missed == 10 + 10 - 9  # ann and bob have 5 records each, 10 pairs each
