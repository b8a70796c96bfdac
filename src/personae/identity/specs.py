"""Identity settings (``[identity]`` in ``personae.toml``): how identifiers link people."""

from __future__ import annotations

from pydantic import Field, field_validator

from personae.engine.tables import IDENTIFIER_TYPES
from personae.golden.survivorship import SURVIVORSHIP_RULES
from personae.identity.fuzzy_settings import FuzzySettings
from personae.spec import Spec, did_you_mean

DEFAULT_PRIORITY = ("user_id", "crm_id", "email", "loyalty_id", "phone", "anonymous_id")
DEFAULT_BLOCKED_PATTERNS = (
    "^(null|none|nil|n/?a|unknown|undefined|test|-|0+)$",
    "^test@",
    "^(noreply|no-reply|donotreply)@",
    "@example[.](com|org|net)$",
)
"""RE2 patterns (case-insensitive) for junk identifier values; phones made of one digit
repeated are already dropped by normalisation."""


class IdentitySettings(Spec):
    priority: tuple[str, ...] = DEFAULT_PRIORITY
    limits: dict[str, int] = Field(default_factory=lambda: {"user_id": 1, "crm_id": 3, "loyalty_id": 2})
    blocked: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = DEFAULT_BLOCKED_PATTERNS
    shared_max: int = Field(5, ge=1)
    incremental: bool = True
    fuzzy: FuzzySettings = FuzzySettings()
    survivorship: dict[str, str] = Field(default_factory=dict)
    source_priority: tuple[str, ...] = ()
    custom_types: tuple[str, ...] = ()
    """Identifier types of the workspace's own (a membership number, a customer card of a
    partner): a source may map only the built-in types and these, so a typo such as
    ``emial`` is an error, not a new type that links nobody."""

    @field_validator("custom_types")
    @classmethod
    def _custom_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for id_type in value:
            if not id_type.isidentifier() or id_type != id_type.lower():
                raise ValueError(f"custom_types: {id_type!r} must be a lower-case name such as 'member_no'")
            if id_type in IDENTIFIER_TYPES:
                raise ValueError(f"custom_types: {id_type!r} is a built-in identifier type; leave it out")
        return value

    def known_types(self) -> tuple[str, ...]:
        """The identifier types sources may map: the built-in ones and the declared ones."""
        return (*IDENTIFIER_TYPES, *self.custom_types)

    @field_validator("limits")
    @classmethod
    def _positive_limits(cls, value: dict[str, int]) -> dict[str, int]:
        for id_type, limit in value.items():
            if limit < 1:
                raise ValueError(f"limits.{id_type} = {limit}: a limit is at least 1")
        return value

    @field_validator("survivorship")
    @classmethod
    def _known_rules(cls, value: dict[str, str]) -> dict[str, str]:
        for attribute, rule in value.items():
            if rule not in SURVIVORSHIP_RULES:
                raise ValueError(
                    f"survivorship.{attribute} = {rule!r}{did_you_mean(rule, SURVIVORSHIP_RULES)}; "
                    f"rules are {', '.join(SURVIVORSHIP_RULES)}"
                )
        return value

    def rank(self, id_type: str) -> int:
        """Priority rank of an identifier type (0 = most trusted; unlisted types come last)."""
        return self.priority.index(id_type) if id_type in self.priority else len(self.priority)
