"""The package draws the data flow: sources -> ingest -> queue -> forward -> Graph, with Meta's
rules below them. Lower layers never import higher ones, ingest and forward never import each
other, no import cycle, and no module is named like a standard-library module."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "capi"

# capi.<first part> -> layer; a module may import its own layer and those below.
LAYERS = {
    "config": 0,
    "logs": 0,
    "values": 0,
    "web": 0,
    "secret_store": 0,
    "errors": 0,
    "routing": 0,
    "meta": 1,
    "queueing": 2,
    "sources": 3,
    "ingest": 4,
    "forward": 4,
    "wiring": 5,
    "tools": 6,
    "__main__": 7,
}
# The rule book is pure data with no import of the package: it sits with the ground floor, so that
# logs (layer 0) redacts exactly its customer fields instead of a list of its own.
MODULE_LAYERS = {"capi.meta.rules": 0}
SIBLINGS_APART = {frozenset({"ingest", "forward"})}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """capi modules imported by a file, of every kind: at the top, inside functions, and under
    `if TYPE_CHECKING:` (a type-only import still ties the two modules together: counting it is
    what keeps a circle from hiding behind it)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "capi":
                found |= {f"capi.{a.name}" for a in node.names if a.name[0].islower()}
            elif node.module.startswith("capi."):
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("capi.")}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {
    name: {m for m in imports_of(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def layer(module: str) -> tuple[str, int]:
    first = module.split(".")[1] if "." in module else ""
    return first, MODULE_LAYERS.get(module, LAYERS.get(first, -1))


def test_every_module_has_a_layer():
    unplaced = [m for m in MODULES if m != "capi" and layer(m)[1] < 0]
    assert unplaced == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "capi"))
def test_no_upward_import_and_ingest_and_forward_apart(module):
    area, rank = layer(module)
    for imported in GRAPH[module]:
        other, other_rank = layer(imported)
        assert other_rank <= rank, f"{module} imports {imported}, a higher layer"
        assert frozenset({area, other}) not in SIBLINGS_APART, f"{module} imports {imported}"


def test_no_import_cycle():
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = [*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_no_module_is_named_like_a_standard_library_module():
    clashes = sorted(
        name
        for name in MODULES
        if name.rsplit(".", 1)[-1] in sys.stdlib_module_names and name != "capi.__main__"
    )
    assert clashes == []


# What no file of the repository may say: a path of a build machine, or the name of a background
# document kept outside the repository. Built from pieces, so that this file does not say it either.
_MACHINE_PATH = re.compile("/" + "work" + "/|" + "shared" + "/" + "docs")
_OUTSIDE_DOCUMENTS = re.compile("meta" + "-capi[.]md|(?<![A-Z])architecture[.]md")
_BINARY_SUFFIXES = {".png", ".jpg", ".gif", ".ico", ".zip", ".gz", ".db", ".pyc"}


def repository_texts() -> dict[Path, str]:
    """Every text file of the repository (what git tracks, and new files it does not ignore)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    paths = [ROOT / name for name in listed if Path(name).suffix not in _BINARY_SUFFIXES]
    return {p: p.read_text(errors="replace") for p in paths if p.is_file()}


def test_docs_and_docstrings_cite_only_files_of_the_repository():
    """What the code and the docs cite lives in the repository: no absolute path of a build
    machine, no document that is not in docs/ (every text file: code, docs, openapi.yaml, the
    Terraform, the scripts)."""
    for path, text in repository_texts().items():
        assert not _MACHINE_PATH.search(text), path
        assert not _OUTSIDE_DOCUMENTS.search(text), path
        if path.suffix in (".py", ".md") and not path.is_relative_to(ROOT / "tests"):
            for cited in set(re.findall(r"\b([A-Z][A-Z-]+\.md)\b", text)):
                assert (ROOT / "docs" / cited).exists() or (ROOT / cited).exists(), (path, cited)


def test_the_citation_check_sees_what_it_forbids():
    assert _MACHINE_PATH.search("see " + "/work" + "/main/x") and _OUTSIDE_DOCUMENTS.search(
        "docs " + "meta-" + "capi.md"
    )


def test_settings_are_read_in_the_settings_module_only():
    """Every CAPI_* variable is read in capi/config.py; nothing else reads the environment for
    them (the other readers are standard variables: PORT, FUNCTION_TARGET, the emulator's)."""
    for name, path in MODULES.items():
        if name == "capi.config":
            continue
        text = path.read_text()
        for call in re.findall(r"(?:os\.environ(?:\.get)?|os\.getenv)\(?\[?\s*\"([A-Z_]+)\"", text):
            assert not call.startswith("CAPI_"), f"{name} reads {call}"
        assert "os.environ if env is None" not in text, f"{name} falls back to the environment"


def test_one_error_family_in_one_module():
    """Every public exception of the package is defined in capi/errors.py and derives from
    CapiError, which carries the status and code of its answer."""
    import importlib

    from capi.errors import CapiError

    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {ast.unparse(b) for b in node.bases}
            is_exception = any(b.endswith(("Error", "Exception")) for b in bases)
            if is_exception:
                assert name == "capi.errors", f"{name} defines the exception {node.name}"
    errors = importlib.import_module("capi.errors")
    family = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(family) >= 12
    assert all(issubclass(cls, CapiError) for cls in family)
    assert all(isinstance(cls.status, int) and cls.code for cls in family)
