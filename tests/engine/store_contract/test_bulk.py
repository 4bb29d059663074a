"""Bulk and export: a database's rows read out in the stores' shared layout, counted, paged by run,
and written back in one commit (what moving a database and history imports rely on)."""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from engine.records import (
    AuditEvent,
    CheckpointClose,
    CheckpointQuery,
    ConnectionRecord,
    StepRecord,
    TokenRecord,
    Transition,
    now,
)
from engine.store.base import Store
from tests.engine.helpers import linear_workflow
from tests.engine.store_contract.builders import ai_step, checkpoint, new_run, run_at

TABLES = (
    "workflow_versions", "runs", "steps", "checkpoints", "pending_checkpoints", "audit", "outbox",
    "outbox_log", "api_tokens", "connections",
)  # fmt: skip
"""The tables `table_counts` counts."""
LAYOUT = {
    "runs": "id, workflow_id, version, status, current_node, section, title, vals, started_by, created_at, "
    "updated_at, revisions, outcome, error, failed_node",
    "steps": "seq, run_id, node_id, kind, status, input, output, error, started_at, finished_at, meta",
    "checkpoints": "id, run_id, workflow_id, node_id, status, assignee, created_at, due_at, shown, editable, "
    "instructions, title, decision, decided_by, decided_at, requester, action_at, policy",
    "audit": "id, run_id, ts, actor, event, detail",
    "outbox": "id, event, run_id, checkpoint_id, assignee, actor, action, occurred_at, status, attempts, "
    "next_at, done, last_error, delivered_at",
}
"""The columns of a run's rows every backend exports (a backend's own extras, such as leases, left out)."""
LAYOUT["pending_checkpoints"] = LAYOUT["checkpoints"]
LAYOUT["outbox_log"] = LAYOUT["outbox"]


def history(store: Store) -> list[str]:
    """A little of everything: two workflow versions, a token, a connection, a setting, a decided
    run with steps and a delivered announcement, a waiting run; the runs' ids."""
    store.save_workflow(linear_workflow(), "dana")
    store.save_workflow(linear_workflow(name="Again"), "dana", "second")
    store.save_token(TokenRecord("tok_1", "jamie", "hash-1", "CRM", 100.0, "alex"))
    store.put_connection(ConnectionRecord("mail", "smtp", '{"port": 587}', "gAAAAAB-1", 100.0, "alex"))
    store.put_setting("link_key", "secret")
    done, waiting = new_run(status="waiting", node="review"), new_run(status="waiting", node="review")
    ts = now()
    for run in (done, waiting):
        cp = checkpoint(run.id)
        store.apply(
            Transition(
                new_run=run,
                steps=[
                    StepRecord(run.id, "form", "form_trigger", "done", {}, {"topic": "x"}, ts, ts),
                    ai_step(run.id, {"prompt_tokens": 5, "cost_usd": 0.1}),
                ],
                open_checkpoint=cp,
                audit=[
                    AuditEvent(
                        run.id, "system", "checkpoint_opened", {"checkpoint": cp.id, "assignee": "jamie"}
                    )
                ],
            )
        )
    (decided,) = store.list_checkpoints(CheckpointQuery(run_id=done.id))
    store.apply(
        Transition(
            close_checkpoint=CheckpointClose(decided.id, "decided", "jamie", {"kind": "approve"}),
            audit=[AuditEvent(done.id, "jamie", "decision_approve", {"checkpoint": decided.id})],
        )
    )
    first = store.list_events(done.id)[0]
    store.update_events([replace(first, status="delivered", attempts=1, done=["email"], delivered_at=ts)])
    return [done.id, waiting.id]


def test_table_counts_count_every_table_a_copy_is_checked_against(store: Store) -> None:
    """`table_counts` gives each table's rows: zero in a new database, what was written after."""
    assert store.table_counts() == dict.fromkeys(TABLES, 0)
    history(store)
    assert store.table_counts() == {
        "workflow_versions": 2, "runs": 2, "steps": 4, "checkpoints": 1, "pending_checkpoints": 1,
        "audit": 3, "outbox": 2, "outbox_log": 1, "api_tokens": 1, "connections": 1,
    }  # fmt: skip


def test_run_keys_page_through_all_runs_oldest_first(store: Store) -> None:
    """`run_keys(after, limit)` gives (created_at, id) oldest first, the next page after the last key
    (runs created in the same instant included once each)."""
    base = now() - 60
    made = [run_at(base + i // 2, id=f"run_{i:02d}") for i in range(7)]  # pairs share a time
    for run in reversed(made):
        store.apply(Transition(new_run=run))
    everything = [(r.created_at, r.id) for r in made]
    pages, last = [], None
    while keys := store.run_keys(last, limit=3):
        pages.append(keys)
        last = keys[-1]
    assert pages == [everything[:3], everything[3:6], everything[6:]]
    assert store.run_keys() == everything
    assert store.run_keys(everything[-1]) == []


def test_export_rows_gives_only_those_runs_rows_in_the_shared_layout(store: Store) -> None:
    """`export_rows` returns every table of a run's history, holding those runs' rows only, in the
    columns every backend shares; no runs: every table empty."""
    done, waiting = history(store)
    rows = store.export_rows([done])
    assert {t: rows[t].num_rows for t in LAYOUT} == {
        "runs": 1, "steps": 2, "checkpoints": 1, "pending_checkpoints": 0, "audit": 2, "outbox": 1,
        "outbox_log": 1,
    }  # fmt: skip
    assert {t: ", ".join(rows[t].column_names) for t in rows} == LAYOUT
    assert rows["runs"].column("id").to_pylist() == [done]
    both = store.export_rows([done, waiting, "run_nowhere"])
    assert sorted(both["runs"].column("id").to_pylist()) == sorted([done, waiting])
    assert both["pending_checkpoints"].num_rows == 1
    assert {t: table.num_rows for t, table in store.export_rows([]).items()} == dict.fromkeys(LAYOUT, 0)


def test_export_catalog_gives_what_belongs_to_no_run(store: Store) -> None:
    """`export_catalog` returns the workflow versions, API tokens, connections, settings and archived
    counters."""
    history(store)
    catalog = store.export_catalog()
    assert set(catalog) == {
        "workflow_versions",
        "api_tokens",
        "connections",
        "store_meta",
        "archived_counters",
    }
    assert catalog["workflow_versions"].column("version").to_pylist() == [1, 2]
    assert catalog["api_tokens"].column("hash").to_pylist() == ["hash-1"]
    assert catalog["connections"].column("secrets").to_pylist() == ["gAAAAAB-1"]
    assert dict(zip(*catalog["store_meta"].to_pydict().values(), strict=True)) == {
        "setting:link_key": "secret"
    }
    assert catalog["archived_counters"].num_rows == 0


def test_a_database_copied_through_bulk_insert_reads_the_same(store: Store, empty_store: Store) -> None:
    """`export_catalog` and `export_rows` written into an empty database with `bulk_insert` give a
    database that counts, reads and sums like the original."""
    ids = history(store)
    empty_store.bulk_insert(store.export_catalog())
    for key in store.run_keys():
        empty_store.bulk_insert(store.export_rows([key[1]]))  # a run at a time, oldest first
    copy = empty_store
    assert copy.table_counts() == store.table_counts()
    assert copy.counters() == store.counters()  # the copied runs are counted as they arrive
    assert copy.list_workflows()[0].version == 2 and copy.setting("link_key", "new") == "secret"
    assert copy.token_by_hash("hash-1") == store.token_by_hash("hash-1")
    assert copy.list_connections() == store.list_connections()
    for run_id in ids:
        assert copy.get_run(run_id) == store.get_run(run_id)
        assert [replace(s, seq=0) for s in copy.list_steps(run_id)] == [
            replace(s, seq=0) for s in store.list_steps(run_id)
        ]  # in the order they ran
        assert [(e.event, e.detail) for e in copy.list_audit(run_id)] == [
            (e.event, e.detail) for e in store.list_audit(run_id)
        ]
        assert copy.list_checkpoints(CheckpointQuery(status=None, run_id=run_id)) == store.list_checkpoints(
            CheckpointQuery(status=None, run_id=run_id)
        )
        assert copy.list_events(run_id) == store.list_events(run_id)
    assert copy.due_events(now()) == store.due_events(now())


def test_bulk_insert_of_nothing_changes_nothing(store: Store) -> None:
    """`bulk_insert` with no tables, or empty ones, writes nothing."""
    history(store)
    before = store.table_counts()
    store.bulk_insert({})
    store.bulk_insert({"runs": pa.table({"id": pa.array([], pa.string())}).slice(0, 0)})
    assert store.table_counts() == before
