"""The ``postgres`` destination's spec: a members table and a traits table in a PostgreSQL.

The destination itself (:mod:`personae.activation.kinds.postgres_destination`) is imported
only when a sync makes one, because psycopg takes about 0.2 s to import and every command
that reads ``personae.toml`` loads this spec.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from personae.activation.destination import DeliveryContext, Destination, DestinationKind
from personae.activation.specs import DestinationSpec

TRAIT_BOOKKEEPING_COLUMNS = ("last_key", "revision", "updated_at")
"""The columns a traits table keeps beside ``uid`` and the traits, so no trait may take these names."""


class PostgresDestinationSpec(DestinationSpec):
    kind: Literal["postgres"]
    dsn: str | None = None
    """The connection string; put passwords in the environment instead (``dsn_env``)."""
    dsn_env: str | None = None
    """The environment variable holding the connection string."""
    db_schema: str = Field("public", alias="schema", min_length=1)
    """The PostgreSQL schema of both tables (``schema`` in personae.toml)."""
    members_table: str = Field("personae_members", min_length=1)
    traits_table: str = Field("personae_traits", min_length=1)
    create_tables: bool = True
    """Create the schema and missing tables; otherwise a missing table is an error."""
    batch_size: int = Field(100_000, ge=1)

    @model_validator(mode="after")
    def _connection_and_names(self) -> PostgresDestinationSpec:
        if not (self.dsn or self.dsn_env):
            raise ValueError("a postgres destination needs 'dsn_env' (or 'dsn'); prefer dsn_env for passwords")
        if self.actions:
            raise ValueError(
                "the postgres kind keeps no table of next actions; send them with a file, webhook or "
                "segment destination (actions = true there)"
            )
        kept = {"uid"} | set(TRAIT_BOOKKEEPING_COLUMNS)
        for trait in self.traits:
            if trait in kept:
                raise ValueError(
                    f"trait {trait!r} clashes with a column the traits table keeps ({', '.join(sorted(kept))}); "
                    "send it to another destination"
                )
        return self


def _make(spec: PostgresDestinationSpec, context: DeliveryContext) -> Destination:
    from personae.activation.kinds.postgres_destination import PostgresDestination

    return PostgresDestination(spec, context)


KIND = DestinationKind(PostgresDestinationSpec, _make)
