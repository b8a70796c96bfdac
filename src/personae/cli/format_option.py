"""The ``--format`` option of every command that shows data.

One Literal type per set of formats, so Typer refuses an unknown format while it parses the
arguments (before a workspace is opened), in the same words on every command, listing the
formats (``'yaml' is not one of 'table', 'json'``); an unchecked ``str`` used to fall
through to a table. ``json`` is the data exactly, for programs; ``table`` is for people.
"""

from __future__ import annotations

from typing import Annotated, Literal

import typer

Format = Literal["table", "json"]
RowsFormat = Literal["table", "csv", "json"]

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table, or json for programs.")]
RowsFormatOption = Annotated[
    RowsFormat, typer.Option("--format", "-f", help="table (up to 1,000 rows), or csv or json (every row).")
]
