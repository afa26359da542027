"""No `dict[str, Any]` between packages: a public function or method of hub/, dispatch/ or
channels/ that another of these packages imports (by name, or through its module) names
what crosses (a TypedDict, a dataclass, `hub.json_types`), or is in ALLOWED below with the
reason it may not."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

# Nothing here touches the stores: the PostgreSQL pass would only repeat it.
pytestmark = pytest.mark.store_independent

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hub", "dispatch", "channels")
UNTYPED = re.compile(r"\b(dict|Mapping|MutableMapping)\[str, Any\]")

# "module.Class.method" -> why it still takes or gives a bag of anything.
ALLOWED = {
    "hub.errors.Conflict.__init__": "error detail, becomes code+params",
}

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            yield name.removesuffix(".__init__"), ast.parse(path.read_text(encoding="utf-8"))


def _signature(node: Function) -> str:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    parts = [ast.unparse(a.annotation) for a in every if a is not None and a.annotation]
    return " ".join(parts) + " -> " + (ast.unparse(node.returns) if node.returns else "")


def _public(name: str) -> bool:
    return name == "__init__" or not name.startswith("_")


def _untyped(tree: ast.Module) -> Iterator[tuple[str, str]]:
    """(dotted name inside the module, signature) of each public function or method whose
    signature holds dict[str, Any] or Mapping[str, Any]."""
    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                signature = _signature(child)
                if _public(child.name) and UNTYPED.search(signature):
                    yield prefix + child.name, signature
            elif isinstance(child, ast.ClassDef) and _public(child.name):
                yield from walk(child, prefix + child.name + ".")
    yield from walk(tree, "")


def _imported_across(modules: list[tuple[str, ast.Module]]) -> set[tuple[str, str]]:
    """(module, name) pairs that a module of another package imports by name, or uses as
    `module.name` after importing the module itself (`from hub import audit`)."""
    known = {module for module, _ in modules}
    found = set()
    for module, tree in modules:
        package = module.split(".")[0]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            source = node.module.split(".")[0]
            if source not in PACKAGES or source == package:
                continue
            for alias in node.names:
                imported = f"{node.module}.{alias.name}"
                if imported in known:
                    found.update((imported, name) for name in
                                 _attributes_of(tree, alias.asname or alias.name))
                else:
                    found.add((node.module, alias.name))
    return found


def _attributes_of(tree: ast.Module, local: str) -> set[str]:
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == local}


def untyped_between_packages() -> dict[str, str]:
    """Every public function or method imported across packages with dict[str, Any] or
    Mapping[str, Any] in its signature, by dotted name, with its signature."""
    modules = list(_modules())
    imported = _imported_across(modules)
    return {f"{module}.{name}": signature
            for module, tree in modules
            for name, signature in _untyped(tree)
            if (module, name.split(".")[0]) in imported}


def test_no_untyped_documents_between_packages() -> None:
    found = untyped_between_packages()
    unexplained = {name: found[name] for name in sorted(set(found) - set(ALLOWED))}
    assert not unexplained, (
        "signatures between packages with dict[str, Any]: type what crosses (a TypedDict, "
        "a dataclass, hub.json_types) or add it to ALLOWED with the reason:\n"
        + "\n".join(f"  {name}  [{signature}]" for name, signature in unexplained.items()))


def test_the_allowlist_names_only_what_is_still_there() -> None:
    stale = sorted(set(ALLOWED) - set(untyped_between_packages()))
    assert not stale, f"typed now, or gone: take them out of ALLOWED: {stale}"


def test_the_check_sees_an_untyped_signature() -> None:
    tree = ast.parse("from typing import Any\n"
                     "class Box:\n"
                     "    def put(self, item: Mapping[str, Any]) -> None: ...\n"
                     "    def _own(self) -> dict[str, Any]: ...\n"
                     "def take() -> dict[str, Any]: ...\n"
                     "def typed() -> dict[str, int]: ...\n")
    assert sorted(name for name, _ in _untyped(tree)) == ["Box.put", "take"]
