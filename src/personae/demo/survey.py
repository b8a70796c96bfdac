"""An attitudinal survey answered by a sample of customers.

``data/survey/responses.csv`` has ``response_id,email,answered_at,q_price,q_quality,
q_convenience,q_brand,segment`` for about :data:`SAMPLE` of the people with an e-mail
address. Each answer is on a 1–5 scale around the mean of the respondent's
:class:`~personae.demo.catalog.SurveySegment`, and ``segment`` is the segment the survey
tool assigned (the true one). Because the segments also shape behaviour, a classifier
trained on respondents can extend them to everyone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from personae.demo.catalog import QUESTIONS, SURVEY_SEGMENTS
from personae.demo.noise import email_variants
from personae.demo.people import People
from personae.demo.text import SECONDS_PER_DAY, CsvFile, integers, pick, timestamps
from personae.demo.timeline import Timeline, clock
from personae.demo.tokens import opaque
from personae.demo.truth import Truth

SOURCE = "survey"
SAMPLE = 0.05


def specs() -> list[dict[str, Any]]:
    return [
        {
            "name": SOURCE,
            "kind": "survey",
            "path": "data/survey/responses.csv",
            "description": "attitudinal survey of a sample of customers (answers 1-5)",
            "columns": {"record_id": "response_id", "ts": "answered_at", "segment": "segment"},
            "identifiers": {"email": "email"},
        }
    ]


def write_survey(
    folder: Path, rng: np.random.Generator, people: People, timeline: Timeline, truth: Truth
) -> list[Path]:
    """Write the responses; returns the file written."""
    respondent = people.details.has_email & (rng.random(people.count) < SAMPLE)
    person = np.flatnonzero(respondent).astype(np.int64)
    size = len(person)
    low = people.active_from[person].astype(np.int64)
    day = low + (rng.random(size) * (timeline.days - low)).astype(np.int64)
    answered = timeline.first_second + day * SECONDS_PER_DAY + clock(rng, size, in_store=False)
    order = np.lexsort((person, answered))
    person, answered = person[order], answered[order]

    segment = people.segment[person]
    means = np.array([s.answers for s in SURVEY_SEGMENTS])[segment]
    answers = np.clip(np.rint(means + rng.normal(0.0, 0.8, size=means.shape)), 1, 5).astype(np.int64)
    response = opaque(rng, size, 15, "R_")
    truth.add(SOURCE, response, person)
    email = email_variants(rng, people.details.emails(person), rng.random(size) < 0.03)

    path = folder / "responses.csv"
    header = ["response_id", "email", "answered_at", *QUESTIONS, "segment"]
    with CsvFile(path, header) as out:
        columns: list[pa.Array] = [response, email, timestamps(answered)]
        columns += [integers(answers[:, q]) for q in range(len(QUESTIONS))]
        columns.append(pick([s.name for s in SURVEY_SEGMENTS], segment))
        out.write(columns)
    return [path]
