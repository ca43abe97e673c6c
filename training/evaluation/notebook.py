"""Run a notebook with parameters, headless: ``python -m training.evaluation.notebook NOTEBOOK -p NAME VALUE ...
--out EXECUTED.ipynb``.

A small stand-in for papermill (not installed here): values go into a new cell right after the cell tagged
``parameters``, so the notebook keeps its documented defaults and the executed copy shows what was injected.
Each VALUE is read as YAML (``5``, ``[a, b]``, ``null``), anything else stays a string. The notebook runs on this
interpreter's ``python3`` kernel through nbclient, in the notebook's folder; a value (or list item) written as a
path (``runs/mine``, ``news.jsonl``) that exists from where the runner was started is passed as its absolute path,
so relative paths mean what they mean in the user's shell. Bare words (``auto``, ``test``) stay as they are.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..config import ConfigError

PARAMETERS_TAG = "parameters"


def parse_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def absolute_paths(value: Any, base: Path) -> Any:
    """``value`` with each string (also inside a list) that is written as a relative path (a slash or a dot in it)
    and exists from ``base`` made absolute; anything else unchanged."""
    if isinstance(value, list):
        return [absolute_paths(item, base) for item in value]
    if (isinstance(value, str) and ("/" in value or "." in value) and not Path(value).expanduser().is_absolute()
            and (base / value).exists()):
        return str((base / value).resolve())
    return value


def check_type(path: Path | str, name: str, value: Any, default_node: ast.expr) -> None:
    """A value of another type than the parameter's default (a number for a number, a list for a list) is a
    ``ConfigError`` before any cell runs, not a TypeError deep in one; a default of None takes anything."""
    try:
        default = ast.literal_eval(default_node)
    except ValueError:  # not a literal: nothing to compare with
        return
    if default is None or value is None:
        return
    if isinstance(default, (int, float)) and not isinstance(default, bool):  # a number: 10 and 2.5 both do
        matches, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        matches, kind = isinstance(value, type(default)), f"a {type(default).__name__}"
    if not matches:
        raise ConfigError(f"{path}: parameter {name} = {value!r}: expected {kind}, like its default {default!r}")


def inject(notebook: Any, parameters: dict[str, Any], path: Path | str = "notebook") -> Any:
    """Insert ``parameters`` after the cell tagged ``parameters``; an unknown name is a ``ConfigError``."""
    import nbformat

    tagged = [i for i, cell in enumerate(notebook.cells) if PARAMETERS_TAG in cell.metadata.get("tags", [])]
    if len(tagged) != 1:
        raise ConfigError(f"{path}: expected exactly one cell tagged {PARAMETERS_TAG!r}, found {len(tagged)}")
    defaults = {target.id: node.value for node in ast.parse(notebook.cells[tagged[0]].source).body
                if isinstance(node, ast.Assign) for target in node.targets if isinstance(target, ast.Name)}
    if unknown := sorted(set(parameters) - set(defaults)):
        raise ConfigError(f"{path}: unknown parameter {unknown[0]!r}; the notebook's parameters are {', '.join(defaults)}")
    for name, value in parameters.items():
        check_type(path, name, value, defaults[name])
    cell = nbformat.v4.new_code_cell("# injected parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(tagged[0] + 1, cell)
    return notebook


def execute_notebook(path: str | Path, parameters: dict[str, Any] | None = None, out: str | Path | None = None,
                     kernel_name: str | None = None, timeout: int = 600) -> Any:
    """Execute ``path`` with ``parameters`` (working directory: the notebook's folder); write it to ``out``."""
    import nbclient
    import nbformat

    from ..artifact import same_file, write_text_atomic

    path = Path(path)
    if out and same_file(out, path):
        raise ConfigError(f"--out {out} is the notebook itself: its executed copy would replace it; write it elsewhere")
    notebook = inject(nbformat.read(path, as_version=4), parameters or {}, path)
    client = nbclient.NotebookClient(notebook, timeout=timeout, resources={"metadata": {"path": str(path.parent)}},
                                     **({"kernel_name": kernel_name} if kernel_name else {}))
    try:
        client.execute()
    finally:  # the executed copy, with the failing cell's traceback, is what shows what went wrong
        if out:
            write_text_atomic(out, nbformat.writes(notebook))
    return notebook


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluation.notebook", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", help="the .ipynb to run")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a parameter of the cell tagged 'parameters' (repeat for several)")
    parser.add_argument("--out", required=True, help="where to write the executed notebook")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's, python3)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    from nbclient.exceptions import CellExecutionError

    try:
        parameters = {name: absolute_paths(parse_value(value), Path.cwd()) for name, value in args.parameter}
        execute_notebook(args.notebook, parameters, args.out, args.kernel, args.timeout)
    except (ConfigError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CellExecutionError as exc:
        last_line = re.sub(r"\x1b\[[0-9;]*m", "", str(exc).strip().splitlines()[-1])  # the kernel's colours
        print(f"error: a cell failed; see {args.out}:\n{last_line}", file=sys.stderr)
        return 1
    print(f"executed: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
