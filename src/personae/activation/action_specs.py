"""Next-best actions (``[[actions]]`` in ``personae.toml``): a decision table, frozen data.

Each action says who may get it (a rule), how it ranks against the other actions of its
channel (a fixed ``priority``, or an expected value: a model score times a value), how often
one person may get it (``cap`` times per ``cap_days``, and ``cooldown_days`` between two),
and what share of the people it would go to are held out to measure it. The specs are
checked when ``personae.toml`` loads (:func:`check_actions`), against the same columns and
segments rules may read, so a typo stops before anything runs.

>>> spec = ActionSpec(name="win_back", rule="days_since_last_order > 90", score="p_alive", value="clv")
>>> spec.ranking, spec.channel
('expected value', 'default')
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, model_validator

from personae.errors import InvalidRule
from personae.rules import Rule, column_kind, parse_rule
from personae.spec import NAME_PATTERN, Spec, did_you_mean

DEFAULT_CHANNEL = "default"
NUMERIC_KINDS = frozenset({"integer", "decimal", "double"})


class ActionSpec(Spec):
    """One row of the decision table."""

    name: str = Field(pattern=NAME_PATTERN)
    """Also the name of its holdout experiment (``personae experiments report NAME``)."""
    rule: str = Field(min_length=1)
    """Who is eligible, in the rule language (``in_segment`` included)."""
    channel: str = Field(DEFAULT_CHANNEL, pattern=NAME_PATTERN)
    """Each person gets at most one action per channel: the best-ranked eligible one."""
    priority: int | None = None
    """A fixed rank value; higher wins. Give it, or ``score`` and ``value``."""
    score: str | None = None
    """A numeric profile column or model score (``high_value_probability``, ``p_alive``, ...)."""
    value: float | str | None = None
    """What the action is worth when it works: a number, or a numeric column (``clv``)."""
    cap: int | None = Field(None, ge=1)
    """At most this many exposures of one person within any ``cap_days`` days (None: no cap)."""
    cap_days: int = Field(30, ge=1)
    cooldown_days: int = Field(0, ge=0)
    """Days after an exposure before the same person may get this action again (0: none)."""
    holdout: float = Field(0.0, ge=0.0, lt=1.0)
    """The share of eligible people held out (recorded, flagged, never sent), by a stable hash."""
    description: str = ""

    @model_validator(mode="after")
    def _one_ranking(self) -> ActionSpec:
        label = f"action {self.name!r}"
        if self.priority is not None and (self.score is not None or self.value is not None):
            raise ValueError(f"{label}: give either priority or score and value, not both")
        if self.priority is None and (self.score is None or self.value is None):
            raise ValueError(
                f"{label}: give priority = N (higher wins), or an expected value: score = COLUMN and "
                "value = NUMBER or COLUMN (e.g. score = 'high_value_probability', value = 'clv')"
            )
        return self

    @property
    def ranking(self) -> str:
        return "priority" if self.priority is not None else "expected value"

    def columns(self) -> list[str]:
        """The profile columns the ranking reads (the rule's own are in its :class:`Rule`)."""
        named = [self.score, self.value]
        return [column for column in named if isinstance(column, str)]


def parse_action_rule(spec: ActionSpec, columns: Mapping[str, str]) -> Rule:
    """The action's checked rule (an :class:`InvalidRule` names the action)."""
    return parse_rule(spec.rule, columns, name=f"actions.{spec.name}")


def check_actions(actions: tuple[ActionSpec, ...], columns: Mapping[str, str]) -> list[Rule]:
    """Every action's rule and ranking columns against the profile ``columns`` (name -> type);
    returns the checked rules, in order. Raises :class:`InvalidRule` naming the action."""
    names = [spec.name for spec in actions]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidRule(f"two actions are named {repeated[0]!r}; names must be unique")
    rules = []
    for spec in actions:
        rules.append(parse_action_rule(spec, columns))
        for column in spec.columns():
            if column not in columns:
                raise InvalidRule(
                    f"action {spec.name!r}: unknown column {column!r}{did_you_mean(column, columns)}; "
                    "score and value name a numeric profile column or model score"
                )
            if column_kind(columns[column]) not in NUMERIC_KINDS:
                raise InvalidRule(
                    f"action {spec.name!r}: column {column!r} holds {columns[column]}, not a number; "
                    "score and value must be numeric"
                )
    return rules
