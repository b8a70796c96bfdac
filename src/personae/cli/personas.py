"""``personae personas SEGMENTATION``: a persona card for every segment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from personae.cli.format_option import FormatOption
from personae.cli.render import add_row, cell, console, line, new_table, print_json, say, visible
from personae.cli.workspace_option import WorkspaceOption, open_workspace
from personae.segments.persona_text import MixShare
from personae.segments.personas import PersonaCard, PersonaExample


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
    columns = ("trait", "segment", "all customers", "index")
    shown = new_table("traits against all customers", columns, right=columns[1:], title_justify="left")
    for item in card.traits:
        add_row(shown, [item.trait, _number(item.segment_mean), _number(item.base_mean), _index(item.index)])
    return shown


def _mix(title: str, items: list[MixShare], key: str, share: str) -> Table | Text:
    if not items:
        return line(f"{title}: none")
    shown = new_table(title, (key, share, "index"), right=(share, "index"), title_justify="left")
    for item in items:
        add_row(shown, [item.value, f"{item.share:.1%}", _index(item.index)])
    return shown


def _example(example: PersonaExample) -> Text:
    place = ", ".join(str(part) for part in (example.city, example.country) if part)
    about = [example.age_band or "age unknown", place or "place unknown"]
    if example.top_category:
        about.append(f"buys mostly {example.top_category}")
    if example.top_channel:
        about.append(f"through {example.top_channel}")
    values = ", ".join(f"{trait} {_number(value)}" for trait, value in example.traits.items())
    text = line(("example: ", "bold"), f"{example.alias} ({'; '.join(about)})")
    if values:
        text.append("\n").append(visible(values))
    return text


def _card(card: PersonaCard) -> Panel:
    sizes = (
        f"{card.size:,} customers · {card.share_of_customers:.1%} of customers · {card.share_of_revenue:.1%} of revenue"
    )
    body = Group(
        cell(card.name, style="bold"),
        cell(sizes),
        cell(card.description),
        _traits(card),
        _mix("top categories", card.top_categories, "category", "share of revenue"),
        _mix("top channels", card.top_channels, "channel", "share of orders"),
        _example(card.example),
    )
    return Panel(body, title=cell(card.segment), title_align="left")


def personas(
    segmentation: Annotated[str, typer.Argument(help="A segmentation, e.g. rfm, lifecycle or rules.")],
    workspace: WorkspaceOption = Path("."),
    format: FormatOption = "table",
) -> None:
    """A persona card for every segment: size, shares, traits against all customers, name, example."""
    result = open_workspace(workspace).personas(segmentation)
    if format == "json":
        print_json(result)
        return
    overlap = "; segments overlap, so shares may add up to more than 100%" if result.overlapping else ""
    left_out = f" ({result.anonymous:,} anonymous profiles left out)" if result.anonymous else ""
    say(f"{segmentation}: {len(result.cards)} segments, {result.customers:,} known customers{left_out}{overlap}")
    for card in result.cards:
        console.print(_card(card))
    say(f"examples are anonymised: {result.example_policy}")
