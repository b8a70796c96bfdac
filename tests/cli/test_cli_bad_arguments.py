"""Every command, given a bad argument, answers with one line on stderr (``error: …``) and exit 2.

The cases are derived from the commands Typer registers (tests/cli/command_tree.py), so a
new command or option is swept without a new line here: an unknown option, a missing or a
surplus argument, a word where a number belongs, a value outside an option's choices, and a
workspace path holding control characters (which must reach the terminal escaped, on the
same line). ``main`` runs in-process, as in tests/test_errors.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from personae.cli import main
from tests.cli.command_tree import annotation, choices, commands, groups, required_values

HOSTILE_PATH = "/nonexistent/\x1b[31mred\nsecond line"


def _cases() -> list[tuple[list[str], str]]:
    cases: list[tuple[list[str], str]] = []
    for path in groups():
        cases.append(([*path.split(), "--no-such-option"], "No such option"))
        cases.append(([*path.split(), "no-such-command"], "No such command"))
    for path, command in commands().items():
        words = path.split()
        filled = [*words, *required_values(command)]
        cases.append(([*words, "--no-such-option"], "No such option"))
        if any(param.required for param in command.params):
            cases.append((words, "Missing"))
        if not any(param.nargs == -1 for param in command.params):
            cases.append(([*filled, "surplus"], "unexpected extra argument"))
        for param in command.params:
            if param.param_type_name != "option":
                continue
            if annotation(param) is int:
                cases.append(([*filled, param.opts[0], "many"], "valid integer"))
            if choices(param) or "--format" in param.opts:
                cases.append(([*filled, param.opts[0], "yaml"], "'yaml' is not one of"))
            if "--workspace" in param.opts:
                cases.append(([*filled, "--workspace", HOSTILE_PATH], r"\x1b[31mred\nsecond line"))
    return cases


CASES = _cases()


def test_the_sweep_covers_every_command() -> None:
    swept = {" ".join(args) for args, _ in CASES}
    for path in commands():
        assert any(line.startswith(f"{path} ") for line in swept), path
    assert len(commands()) >= 16


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(args) for args, _ in CASES])
def test_a_bad_argument_is_one_line_with_exit_2(
    args: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # the default workspace '.' is an empty folder
    monkeypatch.delenv("PERSONAE_WORKSPACE", raising=False)
    monkeypatch.setattr(sys, "argv", ["personae", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    captured = capsys.readouterr()
    assert exit_.value.code == 2, captured.err
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert expected in lines[0]
    assert not any(ord(char) < 0x20 for char in lines[0])
