"""The library never depends on the web app: no ``trailmatch`` module imports ``service``
(the service imports the library, never the reverse), and every route declares its
dependencies through ``service/deps.py``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_trailmatch_module_imports_service():
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / "trailmatch").rglob("*.py")
        for name in _imported(path) if name == "service" or name.startswith("service."))
    assert offenders == []


def test_routes_take_their_dependencies_from_deps_only():
    routes = sorted((ROOT / "service" / "routes").glob("*.py"))
    assert len(routes) > 5
    for path in routes:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        called = {n.func.id for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "Depends" not in called, f"{path.name} declares a dependency outside deps.py"
        assert "importlib" not in _imported(path)


def test_app_includes_its_routers_by_name():
    imported = _imported(ROOT / "service" / "app.py")
    assert "importlib" not in imported
    assert "service.routes" in imported


def test_a_job_calls_library_functions_never_another_job():
    """``rematch`` and the service use the jobs' shared parts (``jobs.sources``,
    ``jobs.loading``, ``jobs.outputs``), never the nightly job itself; only its verb runs it."""
    jobs = {"trailmatch.jobs.nightly", "trailmatch.jobs.rematch"}
    runners = {"trailmatch/commands/nightly.py": {"trailmatch.jobs.nightly"},
               "trailmatch/commands/demo.py": {"trailmatch.jobs.nightly"},
               "trailmatch/commands/rematch.py": {"trailmatch.jobs.rematch"}}
    offenders = sorted(
        f"{rel}: {name}"
        for path in [*(ROOT / "trailmatch").rglob("*.py"), *(ROOT / "service").rglob("*.py")]
        for rel in [path.relative_to(ROOT).as_posix()]
        for name in _imported(path) & jobs
        if name not in runners.get(rel, set()))
    assert offenders == []
    assert (ROOT / "trailmatch" / "jobs" / "rematch.py").exists()
    assert "trailmatch.jobs.loading" in _imported(ROOT / "trailmatch" / "jobs" / "rematch.py")


LAYOUT_NAMES = {"positions", "subjects.parquet", "store.json", "index", ".lock"}


def _layout_spellings(path: Path) -> list[str]:
    """Where ``path`` spells a store path itself: a layout name joined as a path part
    (``root / "positions"``), a string naming a partition or the subjects file
    (``"positions/..."``, docstrings aside) or a day partition's name (``f"{day}.parquet"``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef
                                | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr)
                  and isinstance(n.body[0].value, ast.Constant)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            part = node.right
            if isinstance(part, ast.Constant) and part.value in LAYOUT_NAMES:
                found.append(f"{path.name}:{node.lineno}: / {part.value!r}")
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings
              and re.search(r"(^|/)positions/|(^|/)subjects\.parquet$", node.value)):
            found.append(f"{path.name}:{node.lineno}: {node.value!r}")
        elif (isinstance(node, ast.JoinedStr) and len(node.values) == 2
              and isinstance(node.values[0], ast.FormattedValue)
              and isinstance(node.values[1], ast.Constant)
              and node.values[1].value == ".parquet"):
            found.append(f"{path.name}:{node.lineno}: f'{{day}}.parquet'")
    return found


def test_only_the_store_spells_the_store_layout():
    """``trailmatch/store/layout.py`` is the one module that spells where things live in a
    store folder; every other module, test and benchmark asks the store (``Store``,
    ``Layout``, ``relative_partition``) - so a change of layout is made once."""
    owner = ROOT / "trailmatch" / "store" / "layout.py"
    checker = Path(__file__).resolve()
    files = [p for d in ("trailmatch", "service", "tests", "benchmarks")
             for p in sorted((ROOT / d).rglob("*.py")) if p not in (owner, checker)]
    offenders = [s for p in files for s in _layout_spellings(p)]
    assert offenders == []
    assert _layout_spellings(owner)  # the check sees the spellings where they belong


def test_no_library_module_borrows_another_packages_private_names():
    """A name one package keeps to itself (``_name``) is not imported from another: what two
    packages share has a public owner (``hitstore/binds.py`` for the hit store's transaction
    and row helpers, ``report.registry.record_instant`` for the verify record's instants,
    ``service.trails.ENGINE_LOCK`` for the one engine caller at a time)."""
    borrowed = []
    for path in sorted([*(ROOT / "trailmatch").rglob("*.py"), *(ROOT / "service").rglob("*.py")]):
        package = ".".join(path.relative_to(ROOT).parent.parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                owner = node.module if (ROOT / Path(*node.module.split("."))).is_dir() \
                    else node.module.rpartition(".")[0]
                borrowed += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                             for a in node.names
                             if a.name.startswith("_") and not a.name.startswith("__")
                             and owner != package]
    assert borrowed == []
