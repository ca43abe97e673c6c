"""The code's shape, checked: no import cycle between the package's modules (lazy imports included), scikit-learn's
private modules imported in one guarded place only, and no module much over 400 lines."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("training", "serving")
MODULES = {".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): path
           for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}
MAX_LINES = 420


def imports_of(name: str, path: Path) -> set[str]:
    """Project modules that ``name`` imports anywhere in its body (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for target in targets if target in MODULES and target != name}
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def test_no_import_cycle() -> None:
    # a package's __init__ re-exporting its modules is not a cycle of modules
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in GRAPH.items()}
    visiting, done, cycles = [], set(), []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycles.append(visiting[visiting.index(name):] + [name])
            return
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_private_scikit_learn_modules_only_in_the_guarded_module() -> None:
    allowed = {"training.models.sklearn_fast"}
    offenders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module or ""]
            if any(n.startswith("sklearn") and any(part.startswith("_") for part in n.split(".")) for n in names) \
                    and name not in allowed:
                offenders.append(name)
    assert not offenders, f"private scikit-learn imports outside training/models/sklearn_fast.py: {offenders}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(REPO)} has {lines} lines; split it by responsibility"
