"""What ``personae identity report`` says about a fitted fuzzy model: levels and degenerate ones."""

from __future__ import annotations

import math

from personae.identity.splink_model import LevelWeight, degenerate_levels


def levels(name: str, *m_and_u: tuple[float, float]) -> list[LevelWeight]:
    labels = ["Exact match", *(f"level {n}" for n in range(1, len(m_and_u) - 1)), "All other comparisons"]
    return [
        LevelWeight(name, "address", label, m, u, math.log2(m / u))
        for label, (m, u) in zip(labels, m_and_u, strict=True)
    ]


def test_a_healthy_comparison_gives_no_warning() -> None:
    assert degenerate_levels(levels("street", (0.5, 1e-4), (0.2, 1e-3), (0.3, 0.999))) == []


def test_an_exact_match_no_likelier_than_else_is_flagged() -> None:
    # as an untrained birth date is filled in: exact m = u, far below the else level's m
    warnings = degenerate_levels(levels("birth_date", (0.00015, 0.00015), (0.00167, 0.00167), (0.998, 0.998)))
    assert len(warnings) == 1
    assert warnings[0].startswith("birth_date: m of 'Exact match' is 0.00015, at or below 'All other comparisons'")


def test_an_else_level_near_zero_is_flagged_as_a_veto() -> None:
    # as the demo CRM's city: duplicates never seen in two towns, so moving vetoes a match
    warnings = degenerate_levels(levels("city", (1.0, 0.09), (1e-6, 1e-6), (6.5e-9, 0.91)))
    assert len(warnings) == 1
    assert "city: m of 'All other comparisons' is 6.5e-09" in warnings[0] and "vetoes any match" in warnings[0]
