"""The library never depends on the web app: no ``trailmatch`` module imports ``service``
(the service imports the library, never the reverse), and every route declares its
dependencies through ``service/deps.py``."""

from __future__ import annotations

import ast
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
