"""Identity settings (``[identity]`` in ``personae.toml``): how identifiers link people."""

from __future__ import annotations

from pydantic import Field, field_validator

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
