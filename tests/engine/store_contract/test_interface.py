"""The contract covers the whole interface: each public name of `Store` belongs to exactly one
capability, and that capability's module calls it by name on a store, inside a test that runs on
every backend. A method added to `Store` without a contract test calling it fails here."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from engine.store.base import Store

HERE = Path(__file__).parent

CAPABILITIES: dict[str, frozenset[str]] = {
    "test_lifecycle": frozenset({"initialize", "close", "health", "path", "source"}),
    "test_workflows": frozenset(
        {"save_workflow", "get_workflow", "latest_version", "list_workflows", "list_versions"}
    ),
    "test_runs": frozenset(
        {"apply", "get_run", "list_runs", "count_runs", "runs_by_section", "run_versions"}
    ),
    "test_checkpoints": frozenset(
        {"get_checkpoint", "list_checkpoints", "count_checkpoints", "open_checkpoints"}
    ),
    "test_steps_audit": frozenset({"list_steps", "list_audit", "ai_usage"}),
    "test_leases": frozenset({"claim_runs", "renew_leases", "release_runs", "wait_for_work", "clock"}),
    "test_timers": frozenset({"due_checkpoints", "clear_actions"}),
    "test_outbox": frozenset({"due_events", "update_events", "list_events", "events_listener"}),
    "test_insights": frozenset({"stat_totals", "counters", "recomputed_stats", "pending_counts"}),
    "test_archive": frozenset({"archive_runs", "archived_counters", "recomputed_archive_stats"}),
    "test_bulk": frozenset({"export_rows", "run_keys", "table_counts", "export_catalog", "bulk_insert"}),
    "test_tokens": frozenset({"save_token", "token_by_hash", "list_tokens", "revoke_token"}),
    "test_settings": frozenset({"setting", "put_setting"}),
    "test_connections": frozenset(
        {"put_connection", "get_connection", "list_connections", "delete_connection"}
    ),
    "test_drafts": frozenset({"put_draft", "get_draft", "drop_draft", "list_drafts"}),
    "test_live_steps": frozenset({"put_live", "get_live", "clear_live"}),
}
"""Contract module → the public names of `Store` it is the contract of."""

BACKEND_FIXTURES = frozenset({"store", "make_store", "empty_store", "location", "backend"})
"""Fixtures (conftest.py) parametrised over every backend: a test taking one runs on each."""
STORE_FACTORIES = frozenset({"make_store", "open_store"})
"""Calls whose result is a store."""


def interface() -> set[str]:
    """Every public method, property and attribute of `Store`."""
    members = {name for name, _ in inspect.getmembers(Store) if not name.startswith("_")}
    declared = {name for name in inspect.get_annotations(Store) if not name.startswith("_")}
    return members | declared


def contract_tests(module: str) -> list[ast.FunctionDef]:
    """The test functions of a contract module."""
    tree = ast.parse((HERE / f"{module}.py").read_text(encoding="utf-8"))
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


def store_names(test: ast.FunctionDef) -> set[str]:
    """Names that hold a store in a test: parameters annotated `Store`, results of a store factory,
    and names assigned from those."""
    names = {
        a.arg for a in test.args.args if isinstance(a.annotation, ast.Name) and a.annotation.id == "Store"
    }
    assigns = [n for n in ast.walk(test) if isinstance(n, ast.Assign)]
    while True:
        found = set(names)
        for node in assigns:
            value = node.value
            is_store = (isinstance(value, ast.Name) and value.id in names) or (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id in STORE_FACTORIES
            )
            if is_store:
                found |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if found == names:
            return names
        names = found


def used_on_a_store(test: ast.FunctionDef) -> set[str]:
    """The `Store` names a test calls (methods) or reads or sets (attributes) on a store."""
    stores = store_names(test)
    called = {
        n.func.attr
        for n in ast.walk(test)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        if isinstance(n.func.value, ast.Name) and n.func.value.id in stores
    }
    touched = {
        n.attr for n in ast.walk(test) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
        if n.value.id in stores
    }  # fmt: skip
    attributes = {name for name in interface() if not callable(getattr(Store, name, None))}
    return called | (touched & attributes)


def test_every_public_name_of_the_store_belongs_to_one_capability() -> None:
    """The capabilities together are exactly the interface, each name in one of them."""
    claimed = [name for names in CAPABILITIES.values() for name in names]
    twice = sorted({n for n in claimed if claimed.count(n) > 1})
    assert twice == [], f"in more than one capability: {twice}"
    missing = sorted(interface() - set(claimed))
    assert missing == [], (
        f"Store has {missing} with no contract test: add each to a capability in CAPABILITIES and "
        "call it in that module's tests"
    )
    assert sorted(set(claimed) - interface()) == [], "CAPABILITIES names what Store no longer has"


@pytest.mark.parametrize("module", sorted(CAPABILITIES))
def test_each_capability_module_calls_its_methods_on_a_store(module: str) -> None:
    """Every name of a capability is called (an attribute: used) on a store in one of its tests."""
    used = set().union(*(used_on_a_store(t) for t in contract_tests(module)))
    missing = sorted(CAPABILITIES[module] - used)
    assert missing == [], f"{module}.py calls none of {missing} on a store in a test"


def test_every_contract_test_runs_on_every_backend() -> None:
    """Each contract module is a capability, and each of its tests takes a fixture that runs it
    on every backend."""
    modules = {p.stem for p in HERE.glob("test_*.py")} - {Path(__file__).stem}
    assert modules == set(CAPABILITIES), "a contract module that is no capability, or one missing"
    single = [
        f"{module}.{t.name}"
        for module in sorted(modules)
        for t in contract_tests(module)
        if not BACKEND_FIXTURES & {a.arg for a in t.args.args}
    ]
    assert single == [], f"these run on one backend only: {single}"
