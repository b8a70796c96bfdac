"""The destination kinds, one module each: a spec class and a destination class.

Adding a kind is one module here with its ``KIND`` and one line in :data:`KINDS`
(``docs/destinations.md`` walks through one).
"""

from __future__ import annotations

from pydantic import ValidationError

from personae.activation.destination import DeliveryContext, Destination, DestinationKind
from personae.activation.kinds import file, postgres, segment, webhook
from personae.activation.specs import DestinationSpec
from personae.spec import did_you_mean

KINDS: dict[str, DestinationKind] = {
    "file": file.KIND,
    "webhook": webhook.KIND,
    "segment": segment.KIND,
    "postgres": postgres.KIND,
}


def parse_destination(data: object, index: int) -> DestinationSpec:
    """The spec of one ``[[destinations]]`` table, by the class its ``kind`` names; a ValueError
    that names the destination, the key and the fix otherwise."""
    if isinstance(data, DestinationSpec):
        return data
    if not isinstance(data, dict):
        raise ValueError(f"destinations[{index}]: expected a table, got {type(data).__name__}")
    label = f"destination {data['name']!r}" if isinstance(data.get("name"), str) else f"destinations[{index}]"
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        hint = did_you_mean(str(kind), KINDS) if kind else ""
        raise ValueError(f"{label}: kind = {kind!r} is not a destination kind{hint}; kinds are {', '.join(KINDS)}")
    spec_class = KINDS[kind].spec
    try:
        return spec_class.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"])
            if item["type"] == "extra_forbidden":
                hint = did_you_mean(str(item["loc"][-1]), spec_class.model_fields)
                problems.append(f"{label}: unknown key {key!r} for a {kind} destination{hint}")
            elif item["type"] == "missing":
                problems.append(f"{label}: a {kind} destination needs {key!r}")
            else:
                where = f"{label}: {key}" if key else label
                problems.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
        raise ValueError("; ".join(problems)) from None


def make_destination(spec: DestinationSpec, context: DeliveryContext) -> Destination:
    return KINDS[spec.kind].make(spec, context)
