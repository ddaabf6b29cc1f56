"""The packages stack in layers: each imports only those in the layers below its own
(policies < agent < {simulator, feedback} < cli), so the learning core never pulls in a web
stack, the service never pulls in the simulator (nor the simulator the service), and the CLI's
parser stays light. What both the simulator and the service use lives in ``agent``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The layers from the bottom up; packages in one layer do not import each other.
LAYERS = [["policies"], ["agent"], ["simulator", "feedback"], ["cli"]]
ORDER = [package for layer in LAYERS for package in layer]


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(ORDER)


def below(package: str) -> set[str]:
    """The packages ``package`` may import: those in the layers under its own.

    >>> sorted(below("feedback")), sorted(below("cli"))
    (['agent', 'policies'], ['agent', 'feedback', 'policies', 'simulator'])
    """
    level = next(i for i, layer in enumerate(LAYERS) if package in layer)
    return {p for layer in LAYERS[:level] for p in layer}


def stray_imports(root: Path, package: str) -> dict[str, list[str]]:
    """Each file of ``root/package`` that imports a project package outside the layers below
    its own, with those packages."""
    allowed = below(package) | {package}
    return {
        str(p.relative_to(root)): sorted(imported_packages(p) - allowed)
        for p in (root / package).rglob("*.py")
        if imported_packages(p) - allowed
    }


@pytest.mark.parametrize("package", ORDER)
def test_each_package_imports_only_the_layers_below_it(package: str) -> None:
    bad = stray_imports(ROOT, package)
    assert not bad, f"{package} imports packages outside the layers below it: {bad}"


@pytest.mark.parametrize(
    ("package", "line"),
    [
        ("feedback", "from simulator.plots import figure_html"),
        ("feedback", "import simulator"),
        ("simulator", "    from feedback.app import create_app"),
        ("agent", "from simulator import generate_log"),
        ("policies", "from agent.logs import ReplayLog"),
    ],
)
def test_a_sideways_or_upward_import_is_caught(tmp_path: Path, package: str, line: str) -> None:
    (tmp_path / package).mkdir()
    source = f"def f():\n{line}\n" if line.startswith(" ") else f"{line}\n"
    (tmp_path / package / "stray.py").write_text(source)
    assert list(stray_imports(tmp_path, package)) == [f"{package}/stray.py"]


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
