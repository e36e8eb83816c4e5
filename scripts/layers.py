"""Draw idgate's layers from the code: ``python scripts/layers.py`` prints a Mermaid diagram of
which package imports which (runtime imports, as grimp finds them), ordered by the layer
contract in pyproject.toml. ``--write`` puts it between the markers of docs/architecture.md;
tests/architecture checks that the file holds what the code gives, so it cannot go stale."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- layers:begin (scripts/layers.py --write) -->", "<!-- layers:end -->"


def layer_rows() -> list[list[str]]:
    """The layer contract's rows, top to bottom, each a list of its sibling modules."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == "layers")
    return [[part.strip() for part in row.replace(":", "|").split("|")] for row in contract["layers"]]


def _owner(module: str, units: list[str]) -> str | None:
    matches = [u for u in units if module == u or module.startswith(u + ".")]
    return max(matches, key=len) if matches else None


def diagram() -> str:
    rows = layer_rows()
    units = [unit for row in rows for unit in row]
    graph = grimp.build_graph("idgate", cache_dir=None, exclude_type_checking_imports=True)
    edges: set[tuple[str, str]] = set()
    for module in graph.modules:
        source = _owner(module, units)
        for imported in graph.find_modules_directly_imported_by(module):
            target = _owner(imported, units)
            if source and target and source != target:
                edges.add((source, target))

    def node(unit: str) -> str:
        return unit.removeprefix("idgate.").replace(".", "_")

    lines = ["```mermaid", "flowchart TB"]
    for number, row in enumerate(rows):
        lines.append(f"  subgraph L{number}[\" \"]")
        lines.append("    direction LR")
        lines.extend(f"    {node(unit)}[{unit.removeprefix('idgate.')}]" for unit in row)
        lines.append("  end")
    lines.extend(f"  {node(a)} --> {node(b)}" for a, b in sorted(edges))
    lines.append("```")
    return "\n".join(lines)


def current_block() -> str:
    return f"{BEGIN}\n{diagram()}\n{END}"


def main() -> None:
    if "--write" in sys.argv[1:]:
        text = DOC.read_text(encoding="utf-8")
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        DOC.write_text(head + current_block() + tail, encoding="utf-8")
    else:
        print(diagram())


if __name__ == "__main__":
    main()
