"""``python -m personae``: the CLI."""

from personae.cli import main

main()
