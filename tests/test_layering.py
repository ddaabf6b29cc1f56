"""The packages stack: each imports only those below it (policies < agent < simulator <
feedback < cli), so the learning core never pulls in a web stack and the CLI's parser stays
light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["policies", "agent", "simulator", "feedback", "cli"]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(ORDER)


@pytest.mark.parametrize("package", ORDER)
def test_no_package_imports_one_above_it(package: str) -> None:
    above = set(ORDER[ORDER.index(package) + 1 :])
    bad = {
        str(p.relative_to(ROOT)): sorted(imported_packages(p) & above)
        for p in (ROOT / package).rglob("*.py")
        if imported_packages(p) & above
    }
    assert not bad, f"{package} imports packages above it: {bad}"


def test_the_cli_parser_imports_no_heavy_module() -> None:
    code = (
        "import sys; from cli import build_parser; build_parser(); "
        "heavy = {'fastapi', 'sqlmodel', 'torch', 'sentence_transformers', 'numba', 'river'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def module_graph() -> dict[str, set[str]]:
    """Each project module and the project modules it imports (any import, lazy ones and
    ``TYPE_CHECKING`` ones too)."""
    modules: dict[str, Path] = {}
    for package in ORDER:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                deps.update(r for a in node.names if (r := resolve(a.name)))
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps.update(r for a in node.names if (r := resolve(f"{node.module}.{a.name}")))
        graph[name] = deps - {name}
    return graph


def test_no_module_import_cycle() -> None:
    graph = module_graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return path[path.index(name) :] + [name]
        if name in done:
            return None
        for dep in sorted(graph[name]):
            if cycle := visit(dep, [*path, name]):
                return cycle
        done.add(name)
        return None

    cycles = [c for name in sorted(graph) if (c := visit(name, []))]
    assert not cycles, f"import cycle: {' -> '.join(cycles[0])}"
