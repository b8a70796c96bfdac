"""``personae personas SEGMENTATION``: a persona card for every segment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from personae.cli.render import console, print_json
from personae.cli.workspace_option import WorkspaceOption, open_workspace
from personae.segments.personas import MixShare, PersonaCard, PersonaExample

FORMATS = ("table", "json")


def _number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.3f}"


def _index(index: float | None) -> Text:
    if index is None:
        return Text("")
    style = "green" if index >= 120 else "red" if index <= 100 / 1.2 else ""
    return Text(f"{index:.0f}", style=style)


def _traits(card: PersonaCard) -> Table:
    shown = Table(title="traits against all customers", title_justify="left")
    for column in ("trait", "segment", "all customers", "index"):
        shown.add_column(column, justify="left" if column == "trait" else "right")
    for item in card.traits:
        shown.add_row(item.trait, _number(item.segment_mean), _number(item.base_mean), _index(item.index))
    return shown


def _mix(title: str, items: list[MixShare], key: str, share: str) -> Table | Text:
    if not items:
        return Text(f"{title}: none")
    shown = Table(title=title, title_justify="left")
    for column in (key, share, "index"):
        shown.add_column(column, justify="left" if column == key else "right")
    for item in items:
        shown.add_row(item.value, f"{item.share:.1%}", _index(item.index))
    return shown


def _example(example: PersonaExample) -> Text:
    place = ", ".join(str(part) for part in (example.city, example.country) if part)
    about = [example.age_band or "age unknown", place or "place unknown"]
    if example.top_category:
        about.append(f"buys mostly {example.top_category}")
    if example.top_channel:
        about.append(f"through {example.top_channel}")
    values = ", ".join(f"{trait} {_number(value)}" for trait, value in example.traits.items())
    text = Text.assemble(("example: ", "bold"), f"{example.alias} ({'; '.join(about)})")
    if values:
        text.append(f"\n{values}")
    return text


def _card(card: PersonaCard) -> Panel:
    sizes = (
        f"{card.size:,} customers · {card.share_of_customers:.1%} of customers · {card.share_of_revenue:.1%} of revenue"
    )
    body = Group(
        Text(card.name, style="bold"),
        Text(sizes),
        Text(card.description),
        _traits(card),
        _mix("top categories", card.top_categories, "category", "share of revenue"),
        _mix("top channels", card.top_channels, "channel", "share of orders"),
        _example(card.example),
    )
    return Panel(body, title=card.segment, title_align="left")


def personas(
    segmentation: Annotated[str, typer.Argument(help="A segmentation, e.g. rfm, lifecycle or rules.")],
    workspace: WorkspaceOption = Path("."),
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """A persona card for every segment: size, shares, traits against all customers, name, example."""
    if format not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    result = open_workspace(workspace).personas(segmentation)
    if format == "json":
        print_json(result)
        return
    overlap = "; segments overlap, so shares may add up to more than 100%" if result.overlapping else ""
    left_out = f" ({result.anonymous:,} anonymous profiles left out)" if result.anonymous else ""
    console.print(
        f"{segmentation}: {len(result.cards)} segments, {result.customers:,} known customers{left_out}{overlap}",
        highlight=False,
    )
    for card in result.cards:
        console.print(_card(card))
    console.print(f"examples are anonymised: {result.example_policy}", highlight=False)
