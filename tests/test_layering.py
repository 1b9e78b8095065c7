"""The floors of the house, as a test: a module never imports from a higher floor, the two journeys
(tracking, manipulation) of a floor never import each other, and no modules import each other in a
cycle. Every import counts: at module level, inside functions, and named by a string
(`importlib.import_module("mimicsim...")`, Gymnasium entry points, the CLI's verb table).

Floors, lowest first (README, "Design"):
    mimicsim's own top-level modules (errors, atomic, rendering, manifest, jobs)
  < assets < retarget.human < retarget < envs < policies < eval < cli, demo
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"tests", "benchmarks", "build", "out", "runs", "docs"}
FLOORS = (
    ("mimicsim", 0),
    ("mimicsim.assets", 1),
    ("mimicsim.retarget.human", 2),
    ("mimicsim.retarget", 3),
    ("mimicsim.envs", 4),
    ("mimicsim.policies", 5),
    ("mimicsim.eval", 6),
    ("mimicsim.cli", 7),
    ("mimicsim.demo", 7),
)
JOURNEYS = ("tracking", "manipulation")
_NAMED = re.compile(r"^(mimicsim(?:\.\w+)+)(?::\w+)?$")


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    where: str
    """file:line of the import."""


class Scan:
    """Every module of a package tree rooted at `root` (the repository root is the `mimicsim`
    package) and every import between them."""

    def __init__(self, root: Path):
        self.root = root
        self.modules: dict[str, Path] = {}
        for path in sorted(root.rglob("*.py")):
            relative = path.relative_to(root)
            if SKIP & set(relative.parts) or any(part.startswith(".") for part in relative.parts):
                continue
            parts = ["mimicsim", *relative.with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            self.modules[".".join(parts)] = path
        self.edges = [edge for name in self.modules for edge in self._imports_of(name)]

    def _resolve(self, name: str) -> str | None:
        """The module `name` refers to: itself, or the package holding an attribute of that name."""
        while name and name not in self.modules:
            name = name.rpartition(".")[0]
        return name or None

    def _imports_of(self, name: str) -> list[Import]:
        path = self.modules[name]
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = []
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, *filter(None, [base])])
                targets = [f"{base}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = _NAMED.match(node.value)
                targets = [match.group(1)] if match else []
            for target in targets:
                resolved = self._resolve(target) if target.startswith("mimicsim") else None
                if resolved is not None and resolved != name:
                    found.append(Import(name, resolved, f"{path.relative_to(self.root)}:{node.lineno}"))
        return found

    def upward(self) -> list[str]:
        return sorted(
            {f"{e.where} {e.source} imports {e.target}" for e in self.edges if floor(e.target) > floor(e.source)}
        )

    def crossing(self) -> list[str]:
        return sorted(
            {
                f"{e.where} {e.source} imports {e.target}"
                for e in self.edges
                if (a := journey(e.source)) and (b := journey(e.target)) and a[0] == b[0] and a != b
            }
        )

    def cycles(self) -> list[str]:
        """The imports inside each strongly connected component of more than one module (Tarjan).
        A package's __init__ re-exporting its own modules is not a cycle of concepts: the edges
        between a package and the modules inside it are left out."""
        graph: dict[str, set[str]] = {name: set() for name in self.modules}
        for e in self.edges:
            if not self._inside(e):
                graph[e.source].add(e.target)
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        found: list[str] = []

        def visit(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            for other in sorted(graph[node]):
                if other not in index:
                    visit(other)
                    low[node] = min(low[node], low[other])
                elif other in stack:
                    low[node] = min(low[node], index[other])
            if low[node] == index[node]:
                component = set()
                while not component or node not in component:
                    component.add(stack.pop())
                if len(component) > 1:
                    found.append(
                        "\n".join(
                            f"  {e.where} {e.source} imports {e.target}"
                            for e in self.edges
                            if e.source in component and e.target in component and not self._inside(e)
                        )
                    )

        for node in sorted(graph):
            if node not in index:
                visit(node)
        return found

    def _inside(self, e: Import) -> bool:
        package = lambda name: self.modules[name].name == "__init__.py"  # noqa: E731
        return (package(e.target) and e.source.startswith(e.target + ".")) or (
            package(e.source) and e.target.startswith(e.source + ".")
        )


def floor(name: str) -> int:
    return max((len(prefix), level) for prefix, level in FLOORS if name == prefix or name.startswith(prefix + "."))[1]


def journey(name: str) -> tuple[str, str] | None:
    parts = name.split(".")
    if len(parts) >= 3 and parts[2] in JOURNEYS:
        return parts[1], parts[2]
    return None


@pytest.fixture(scope="module")
def scan() -> Scan:
    return Scan(ROOT)


def test_the_scan_sees_the_whole_package(scan):
    assert {"mimicsim.jobs", "mimicsim.retarget.retargeter", "mimicsim.envs.tracking.env", "mimicsim.cli"} <= set(
        scan.modules
    )
    # a string-named import and one inside a function are both seen
    cli_targets = {e.target for e in scan.edges if e.source == "mimicsim.cli"}
    assert "mimicsim.retarget.commands" in cli_targets and "mimicsim.errors" in cli_targets
    factory = {e.target for e in scan.edges if e.source == "mimicsim.policies.manipulation.factory"}
    assert "mimicsim.policies.manipulation.experts" in factory


def test_no_module_imports_from_a_higher_floor(scan):
    assert not scan.upward(), "imports from a higher floor:\n" + "\n".join(scan.upward())


def test_the_journeys_of_a_floor_do_not_import_each_other(scan):
    assert not scan.crossing(), "one journey imports another:\n" + "\n".join(scan.crossing())


def test_no_import_cycles(scan):
    assert not scan.cycles(), "import cycles:\n" + "\n\n".join(scan.cycles())


def test_violations_are_found_with_file_and_line(tmp_path):
    """The checks can fail: a tree with an upward import inside a function, a string-named one, a
    crossing between journeys and a cycle is caught on every count."""
    files = {
        "errors.py": "",
        "retarget/__init__.py": "",
        "retarget/batch.py": "def work():\n    from mimicsim.eval.quality import evaluate\n",
        "envs/__init__.py": "",
        "envs/tracking/__init__.py": "",
        "envs/tracking/env.py": "ENTRY = 'mimicsim.policies.trainer:Trainer'\n",
        "envs/manipulation/__init__.py": "",
        "envs/manipulation/scene.py": "import mimicsim.envs.tracking.env\n",
        "eval/__init__.py": "",
        "eval/quality.py": "from mimicsim.eval import report\n",
        "eval/report.py": "from . import quality\n",
        "policies/__init__.py": "",
        "policies/trainer.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    planted = Scan(tmp_path)
    assert planted.upward() == [
        "envs/tracking/env.py:1 mimicsim.envs.tracking.env imports mimicsim.policies.trainer",
        "retarget/batch.py:2 mimicsim.retarget.batch imports mimicsim.eval.quality",
    ]
    assert planted.crossing() == [
        "envs/manipulation/scene.py:1 mimicsim.envs.manipulation.scene imports mimicsim.envs.tracking.env"
    ]
    [cycle] = planted.cycles()
    assert "eval/quality.py:1" in cycle and "eval/report.py:1" in cycle
