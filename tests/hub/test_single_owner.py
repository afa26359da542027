"""A request's state has one owner (hub/handling*.py, design invariant 8): no other module
updates the request's status, holder, offer, last agent, timings or callback columns, or
writes a handling event. Read from the source, so that a new shortcut fails here first."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "dispatch", "channels")
OWNERS = {"hub/handling.py", "hub/handling_take.py", "hub/handling_calls.py",
          "hub/handling_callback.py"}
STATE_COLUMNS = frozenset({
    "status", "assigned_agent_id", "last_agent_id", "offered_agent_id", "offer_expires_at",
    "queued_at", "service_started_at", "first_response_at", "ended_at",
    "callback", "callback_requested_at", "callback_due_at", "callback_number", "missed_calls",
    "last_missed_at", "missed_wait_s", "callback_called_at", "callback_attempts",
    "callback_outcome", "callback_outcome_at", "callback_done_at",
})


def _aliases(tree: ast.Module, table: str) -> set[str]:
    """Names the module gives the table (`r = schema.contact_requests`, `r, he = ...`)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs = (zip(target.elts, node.value.elts, strict=False)
                     if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple)
                     else [(target, node.value)])
            for name, value in pairs:
                if (isinstance(name, ast.Name) and isinstance(value, ast.Attribute)
                        and value.attr == table):
                    found.add(name.id)
    return found


def _is_table(node: ast.expr, table: str, aliases: set[str]) -> bool:
    return ((isinstance(node, ast.Name) and node.id in aliases)
            or (isinstance(node, ast.Attribute) and node.attr == table))


def _statement_root(node: ast.expr) -> ast.Call | None:
    """The innermost call of a chain like `update(r).where(...).values(...)`."""
    while isinstance(node, ast.Call | ast.Attribute):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return node
        node = node.func if isinstance(node, ast.Call) else node.value
    return None


def violations(source: str) -> Iterator[str]:
    """Each write of request state or of a handling event in `source`."""
    tree = ast.parse(source)
    requests = _aliases(tree, "contact_requests")
    events = _aliases(tree, "handling_events")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "insert" and node.args \
                and _is_table(node.args[0], "handling_events", events):
            yield f"line {node.lineno}: INSERT into handling_events"
        if isinstance(func, ast.Attribute) and func.attr == "insert" \
                and _is_table(func.value, "handling_events", events):
            yield f"line {node.lineno}: INSERT into handling_events"
        if not (isinstance(func, ast.Attribute) and func.attr == "values"):
            continue
        root = _statement_root(func.value)
        if root is None or not isinstance(root.func, ast.Name) or root.func.id != "update" \
                or not root.args or not _is_table(root.args[0], "contact_requests", requests):
            continue
        names = {k.arg for k in node.keywords}
        for arg in node.args:
            if isinstance(arg, ast.Dict):
                names |= {k.value for k in arg.keys if isinstance(k, ast.Constant)}
                names |= {None for k in arg.keys if k is None}
            else:
                names.add(None)
        if None in names:
            yield f"line {node.lineno}: UPDATE of contact_requests with values it cannot name"
        written = sorted(STATE_COLUMNS & {n for n in names if n})
        if written:
            yield f"line {node.lineno}: UPDATE of contact_requests sets {', '.join(written)}"


def _modules() -> Iterator[tuple[str, str]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if "/migrations/" not in name:
                yield name, path.read_text(encoding="utf-8")


def test_only_hub_handling_writes_request_state() -> None:
    found = [f"{name} {problem}" for name, source in _modules() if name not in OWNERS
             for problem in violations(source)]
    assert found == []


def test_the_owners_do_write_it() -> None:
    """The check sees what it looks for: the owners' own writes are found."""
    found = [problem for name, source in _modules() if name in OWNERS
             for problem in violations(source)]
    assert any("INSERT into handling_events" in p for p in found)
    assert any("sets" in p and "status" in p for p in found) or any(
        "cannot name" in p for p in found)


def test_the_check_finds_a_shortcut() -> None:
    shortcut = '''
from hub import schema
r, he = schema.contact_requests, schema.handling_events
async def sneak(conn, request_id, agent):
    await conn.execute(update(r).where(r.c.id == request_id).values(last_agent_id=agent))
    await conn.execute(update(schema.contact_requests).values({"status": "resolved"}))
    await conn.execute(update(r).values(**values))
    await conn.execute(insert(he), {})
    await conn.execute(schema.handling_events.insert(), {})
'''
    found = list(violations(shortcut))
    assert len(found) == 5, found
