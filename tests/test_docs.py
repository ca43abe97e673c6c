"""Docs check: every `python -m training ...` command shown in README.md and docs/*.md parses with today's CLI
(command, flags and values checked by the same code that runs them), and every `make` target shown exists."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from training.cli import build_parser
from training.config import config_from_args

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def shell_commands(path: Path) -> list[str]:
    """Commands of the shell blocks (```bash, ```sh, ```console or untagged) of a markdown file, continuation
    lines joined."""
    commands, block, language = [], None, ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            if block is None:
                block, language = [], line.strip()[3:].strip()
                continue
            if language in ("bash", "sh", "shell", "console", ""):
                text = "\n".join(block).replace("\\\n", " ")
                commands += [c.strip().removeprefix("$ ") for c in text.splitlines()
                             if c.strip() and not c.strip().startswith("#")]
            block = None
        elif block is not None:
            block.append(line)
    return commands


def words(command: str) -> list[str]:
    """Shell words of a command line up to its first pipe, `&&`, `;` or comment (quoted ones are kept)."""
    lexer = shlex.shlex(command, posix=False, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, "#"
    result = []
    try:
        tokens = list(lexer)
    except ValueError:  # a quote closed on a later line: a JSON body of curl, not a command of ours
        return []
    for token in tokens:
        if token in ("|", "||", "&&", ";", "&", ">", ">>", "<"):
            if token in ("&&", ";"):
                result = []  # `cd x && python -m training ...`: the last command counts
                continue
            break
        result.append(shlex.split(token)[0] if token[:1] in "'\"" else token)
    return result


def cli_arguments(command: str) -> list[str] | None:
    """The arguments after `python -m training`, or None for another command."""
    tokens = words(command)
    for start in range(len(tokens) - 2):
        if tokens[start].endswith("python") and tokens[start + 1:start + 3] == ["-m", "training"]:
            return tokens[start + 3:]
    return None


CLI_COMMANDS = [(path.name, args) for path in DOCS for command in shell_commands(path)
                if (args := cli_arguments(command)) is not None]


def test_the_docs_show_commands() -> None:
    assert len(CLI_COMMANDS) >= 10, CLI_COMMANDS


@pytest.mark.parametrize("where, args", CLI_COMMANDS, ids=[f"{w}:{' '.join(a)[:60]}" for w, a in CLI_COMMANDS])
def test_documented_command_parses(where: str, args: list[str]) -> None:
    if any(flag in args for flag in ("--help", "-h", "--help-all")):
        with pytest.raises(SystemExit) as exit_:
            build_parser(show_all="--help-all" in args).parse_args(args)
        assert exit_.value.code == 0
        return
    parsed = build_parser().parse_args(args)
    command = parsed.command_spec
    if command.config is not None:  # values coerced and checked exactly as a run would
        config_from_args(parsed, command.config())


def test_documented_make_targets_exist() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    for path in DOCS:
        for command in shell_commands(path):
            for target in re.findall(r"(?:^|&& )make ([\w-]+)", command):
                assert target in targets, f"{path.name}: make {target} is not a Makefile target"
