"""Which way the imports run (STYLE.md): no import cycles, and each layer imports only what it may.

The graph comes from parsing the source with `ast`, never from importing it, so every import
statement counts: at module level, inside functions and under `if TYPE_CHECKING:` alike.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "vigil_server": ROOT / "server" / "vigil_server",
    "vigil_models": ROOT / "models" / "vigil_models",
    "vigil_client": ROOT / "clients" / "python" / "vigil_client",
}
# The transport: the only server modules that see grpc, protobuf and the generated stubs (vigil.v1).
TRANSPORT = frozenset(
    f"vigil_server.{name}"
    for name in ("app", "servicer", "rpc", "wire", "wire_moderation", "wire_lookup", "wire_captions", "wire_alerts")
)
STORE = frozenset({"vigil_server.store"})  # the Milvus adapter; it also catches grpc.RpcError from pymilvus
PROCESS_STARTERS = frozenset({"vigil_server.decode"})  # the only module that runs ffmpeg, or any process
PROCESS_CALLS = ("asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell", "os.system", "os.popen")
STARTS_PROCESSES = ("ffmpeg", "subprocess", *PROCESS_CALLS)  # ffmpeg is the ffmpeg-python package
GRPC = ("grpc", "grpc_health", "grpc_reflection")
PROTOBUF = ("vigil", "google.protobuf", "google.rpc")  # the generated stubs and protobuf messages
NOT_IN_MODELS = ("vigil_server", "vigil_client", "vigil", *GRPC)  # `vigil` holds the generated stubs
NOT_IN_CLIENT = ("vigil_server", "vigil_models", "torch", "transformers", "faster_whisper")


@dataclass(frozen=True)
class Import:
    source: str  # the importing project module
    target: str  # a project module, or the dotted name of anything else (`pkg.name` for `from pkg import name`)
    path: Path
    line: int
    context: str  # "", "under TYPE_CHECKING" or "inside f()"

    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}" + (f" ({self.context})" if self.context else "")


@dataclass(frozen=True)
class Rule:
    name: str
    importers: tuple[str, ...]  # modules in these packages...
    forbidden: tuple[str, ...]  # ...never import these modules or anything under them...
    allowed: frozenset[str] = frozenset()  # ...except these importers


RULES = [
    Rule("models import no server, client, stubs or grpc", ("vigil_models",), NOT_IN_MODELS),
    Rule("the client imports no server, models or torch", ("vigil_client",), NOT_IN_CLIENT),
    Rule("only the store imports pymilvus", tuple(PACKAGES), ("pymilvus",), STORE),
    Rule("only decode runs ffmpeg or processes", tuple(PACKAGES), STARTS_PROCESSES, PROCESS_STARTERS),
    Rule("only transport and store import grpc", ("vigil_server",), GRPC, TRANSPORT | STORE),
    Rule("only transport sees stubs and protobuf", ("vigil_server",), PROTOBUF, TRANSPORT),
    Rule("no stage imports the transport", ("vigil_server",), tuple(TRANSPORT), TRANSPORT),
]


def within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def find_modules(packages: dict[str, Path]) -> dict[str, Path]:
    modules = {}
    for package, directory in packages.items():
        for path in sorted(directory.rglob("*.py")):
            parts = path.relative_to(directory).with_suffix("").parts
            name = ".".join((package, *parts[: -1 if parts[-1] == "__init__" else None]))
            if path.name == "__init__.py" or name not in modules:  # as in Python, x/__init__.py shadows x.py
                modules[name] = path
    return modules


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, context: str) -> Iterator[Import]:
        found: list[tuple[str, int]] = []
        if isinstance(node, ast.Import):
            found = [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, then one level up per extra dot
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                name = f"{base}.{alias.name}"
                found.append((base if base in known and name not in known else name, node.lineno))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            call = f"{node.value.id}.{node.attr}"
            found = [(call, node.lineno)] if call in PROCESS_CALLS else []
        yield from (Import(module, target, path, line, context) for target, line in found)

        branches: list[tuple[Sequence[ast.AST], str]]
        if isinstance(node, ast.If) and is_type_checking(node.test):
            branches = [(node.body, "under TYPE_CHECKING"), (node.orelse, context)]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            branches = [(list(ast.iter_child_nodes(node)), context or f"inside {node.name}()")]
        else:
            branches = [(list(ast.iter_child_nodes(node)), context)]
        for children, inner in branches:
            for child in children:
                yield from walk(child, inner)

    yield from walk(ast.parse(path.read_text(), str(path)), "")


def build_graph(packages: dict[str, Path]) -> list[Import]:
    """Every import of every module of `packages` (package name -> its directory)."""
    modules = find_modules(packages)
    return [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]


def find_cycles(imports: list[Import]) -> list[tuple[str, ...]]:
    """One shortest cycle through each import that lies in a strongly connected component.

    An edge a -> b is inside a strongly connected component exactly when b leads back to a; the
    shortest way back closes the cycle. So every import that has to go is shown at least once.
    """
    modules = {imp.source for imp in imports}  # a module that imports nothing is in no cycle
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.target in modules and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    cycles = set()
    for a in sorted(graph):
        for b in sorted(graph[a]):
            came_from = {b: b}
            queue = deque([b])
            while queue and a not in came_from:
                node = queue.popleft()
                for after in sorted(graph[node] - came_from.keys()):
                    came_from[after] = node
                    queue.append(after)
            if a in came_from:
                path = [a]
                while path[-1] != b:
                    path.append(came_from[path[-1]])
                cycle = [a, *reversed(path[1:])]  # a -> b -> ... -> (back to a)
                first = cycle.index(min(cycle))
                cycles.add(tuple(cycle[first:] + cycle[:first]))
    return sorted(cycles)


def describe(cycle: tuple[str, ...], imports: list[Import]) -> str:
    lines = [" -> ".join((*cycle, cycle[0]))]
    for a, b in zip(cycle, (*cycle[1:], cycle[0]), strict=True):
        where = ", ".join(dict.fromkeys(imp.where() for imp in imports if imp.source == a and imp.target == b))
        lines.append(f"    {a} -> {b}: {where}")
    return "\n".join(lines)


def violations(imports: list[Import], rule: Rule) -> list[str]:
    return [
        f"{imp.source} imports {imp.target}: {imp.where()}"
        for imp in imports
        if within(imp.source, rule.importers) and imp.source not in rule.allowed and within(imp.target, rule.forbidden)
    ]


@pytest.fixture(scope="module")
def project() -> list[Import]:
    return build_graph(PACKAGES)


def test_no_import_cycles(project: list[Import]) -> None:
    cycles = find_cycles(project)
    if cycles:
        pytest.fail(
            "import cycles, each import with its file:line:\n" + "\n".join(describe(c, project) for c in cycles),
            pytrace=False,
        )


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_layering(project: list[Import], rule: Rule) -> None:
    found = violations(project, rule)
    if found:
        pytest.fail(f"{rule.name}:\n" + "\n".join(found), pytrace=False)


def test_checker_sees_hidden_cycles_and_forbidden_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    sources = {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "b.py": "from . import a\n\nclass B: ...\n",
        "c.py": "def f():\n    from .d import g\n    return g\n",
        "d.py": "import pkg.c\n\ndef g():\n    import grpc\n",
        "e.py": "from pkg import a, c\n",  # imports into both cycles, is in none
    }
    for name, text in sources.items():
        (package / name).write_text(text)
    imports = build_graph({"pkg": package})

    assert find_cycles(imports) == [("pkg.a", "pkg.b"), ("pkg.c", "pkg.d")]
    message = describe(("pkg.a", "pkg.b"), imports)
    assert message.startswith("pkg.a -> pkg.b -> pkg.a\n")
    assert "a.py:3 (under TYPE_CHECKING)" in message and "b.py:1" in message
    assert "c.py:2 (inside f())" in describe(("pkg.c", "pkg.d"), imports)
    rule = Rule("no grpc", ("pkg",), GRPC, frozenset({"pkg.a"}))
    assert [v.split(":")[0] for v in violations(imports, rule)] == ["pkg.d imports grpc"]


def _distribution(requirement: str) -> str:
    """The normalised distribution name of a requirement string ("torch==2.13.0" -> "torch")."""
    name = requirement.split(";")[0]
    for mark in "<>=!~[ ":
        name = name.split(mark)[0]
    return name.strip().lower().replace("_", "-").replace(".", "-")


DECLARED_IN = [("vigil_server", "pyproject.toml"), ("vigil_models", "pyproject.toml"),
               ("vigil_client", "clients/python/pyproject.toml")]  # fmt: skip


@pytest.mark.parametrize(("package", "pyproject"), DECLARED_IN)
def test_every_third_party_import_is_a_declared_dependency(project: list[Import], package: str, pyproject: str) -> None:
    """An import that only works because another package happens to pull its distribution in breaks on its own."""
    import sys
    import tomllib
    from importlib.metadata import packages_distributions

    declared = {_distribution(r) for r in tomllib.loads((ROOT / pyproject).read_text())["project"]["dependencies"]}
    providers = packages_distributions()
    missing = []
    for imp in project:
        top = imp.target.split(".")[0]
        if not within(imp.source, [package]) or top in sys.stdlib_module_names or top.startswith("vigil"):
            continue
        names = {_distribution(d) for d in providers.get(top, [])}
        if not names & declared:
            missing.append(f"{imp.where()} imports {imp.target} ({sorted(names) or '?'})")
    assert not missing, "imports whose distribution is not in " + pyproject + ":\n" + "\n".join(sorted(set(missing)))
