"""The consent purposes a workspace declares (``[privacy]`` in ``personae.toml``).

A purpose is what personal data is used for (``email_marketing``, ``advertising``,
``analytics``). Each person has a decision per purpose, or none, in which case the
purpose's ``default`` applies: ``denied`` (opt-in, the GDPR default for marketing) or
``granted`` (opt-out, e.g. for analytics where the law allows it). Destinations name the
purpose they serve; rules read the state as the trait ``consent_<purpose>``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from personae.spec import NAME_PATTERN, Spec, did_you_mean

CONSENT_TRAIT_PREFIX = "consent_"


class Purpose(Spec):
    """One purpose: its name and what holds for a person who never decided."""

    name: str = Field(pattern=NAME_PATTERN)
    default: Literal["denied", "granted"] = "denied"
    description: str = ""

    @property
    def granted_by_default(self) -> bool:
        return self.default == "granted"

    @property
    def trait(self) -> str:
        """The profile column rules read: true when the person may be used for this purpose."""
        return CONSENT_TRAIT_PREFIX + self.name


class PrivacySettings(Spec):
    """``[privacy]``: the purposes people consent to."""

    purposes: tuple[Purpose, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _names_alone(cls, data: object) -> object:
        """``purposes = ["email_marketing", …]`` is short for tables with the default ``denied``."""
        if isinstance(data, dict) and isinstance(data.get("purposes"), list | tuple):
            items = [{"name": item} if isinstance(item, str) else item for item in data["purposes"]]
            data = {**data, "purposes": items}
        return data

    @model_validator(mode="after")
    def _unique(self) -> PrivacySettings:
        names = [purpose.name for purpose in self.purposes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"purpose {repeated[0]!r} is declared twice; names must be unique")
        return self

    def names(self) -> tuple[str, ...]:
        return tuple(purpose.name for purpose in self.purposes)

    def purpose(self, name: str, where: str = "") -> Purpose:
        """The purpose named ``name``; a ValueError naming ``where``, the name and the fix otherwise."""
        for purpose in self.purposes:
            if purpose.name == name:
                return purpose
        label = f"{where}: " if where else ""
        known = self.names()
        if not known:
            raise ValueError(
                f"{label}purpose {name!r} is not declared; declare it under [privacy], "
                f'e.g. purposes = ["{name}"] (or [[privacy.purposes]] name = "{name}", default = "denied")'
            )
        raise ValueError(
            f"{label}purpose {name!r} is not declared{did_you_mean(name, known)}; purposes are {', '.join(known)}"
        )

    def served(self, name: str | None) -> Purpose | None:
        """The purpose a destination serves (``purpose = …``), or None when it names none."""
        if name is None:
            return None
        return self.purpose(name)

    def traits(self) -> dict[str, str]:
        """Name -> type of the consent columns profiles carry (one per purpose)."""
        return {purpose.trait: "BOOLEAN" for purpose in self.purposes}
