"""Issue 12: the architecture holds - no import cycles, the layer contracts of pyproject.toml
kept (and able to fail), no module over 300 lines, one module per grant in one table."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 300


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_layer_contracts_are_kept() -> None:
    result = _lint(ROOT, SRC)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_change_that_breaks_a_layer_fails(tmp_path: Path) -> None:
    """The contracts are not decoration: an upward import (the verifier library reaching into the
    server) makes lint-imports fail."""
    shutil.copytree(SRC / "idgate", tmp_path / "src" / "idgate", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src" / "idgate" / "rs" / "upward.py").write_text("import idgate.server.app\n")
    result = _lint(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "idgate.rs.upward -> idgate.server.app" in result.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    # Type-only imports included: a cycle through annotations is still a tangle to read.
    graph = grimp.build_graph("idgate", cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def test_no_module_over_300_lines() -> None:
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_every_grant_is_one_module_in_the_table() -> None:
    from idgate.server import grants

    modules = {p.stem for p in Path(grants.__file__).parent.glob("*.py")} - {"__init__"}
    def module(grant_type: str) -> str:  # urn:ietf:params:oauth:grant-type:device_code -> device_code
        return grant_type.rsplit(":", 1)[-1].replace("-", "_")

    assert {module(g) for g in grants.GRANTS} == modules
    for name, registered in grants.GRANTS.items():
        assert registered.grant.__module__ == f"idgate.server.grants.{module(name)}"


@pytest.mark.parametrize("module", ["idgate.audit", "idgate.cli", "idgate.ops.worker"])
def test_the_services_do_not_reach_up(module: str) -> None:
    """A belt to the contracts' braces: the service layer does not import what sits above it."""
    graph = grimp.build_graph("idgate", cache_dir=None, exclude_type_checking_imports=True)
    assert not graph.chain_exists(importer="idgate.services", imported=module, as_packages=True)


def test_the_layer_picture_in_the_design_notes_is_drawn_from_the_code() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import layers
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert layers.current_block() in layers.DOC.read_text(encoding="utf-8"), \
        "docs/architecture.md is stale: run python scripts/layers.py --write"
