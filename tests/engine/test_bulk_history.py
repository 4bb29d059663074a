"""The store's bulk path: history cloned through it reads, counts and pages like history made live."""

from __future__ import annotations

import pytest

from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.backends import db_path_on_every_backend  # noqa: F401  (`db_path`: every backend)
from tests.history import build


def test_a_cloned_history_keeps_its_shape_and_its_counters(db_path: str) -> None:
    build(db_path, 3000)
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        store = app.store
        assert store.count_runs() == 3000
        kept, recomputed = store.counters(), store.recomputed_stats()
        assert kept.keys() == recomputed.keys() and kept == pytest.approx(recomputed)
        finished = sum(store.count_runs(status=s) for s in ("completed", "rejected"))
        waiting = store.count_runs(status="waiting")
        assert finished + waiting == 3000 and 0 < waiting < 150  # about 1% waits
        assert store.count_checkpoints(CheckpointQuery(status="pending")) >= waiting
        # announcements were cloned as handled, as a running server leaves them: nothing waits to be sent
        assert store.due_events(float("inf"), limit=5000) == []
        # pages read it like live history, newest first
        newest = store.list_runs(limit=50)
        assert len(newest) == 50 and [r.created_at for r in newest] == sorted(
            (r.created_at for r in newest), reverse=True
        )
        everything = sorted(store.list_runs(limit=5000), key=lambda r: (-r.created_at, r.id))
        for offset in (0, 50, 400):  # windows of recent history give exactly the pages a full sort gives
            assert [r.id for r in store.list_runs(limit=50, offset=offset)] == [
                r.id for r in everything[offset : offset + 50]
            ]
        all_mine = store.list_checkpoints(CheckpointQuery(status=None, decided_by="jamie"))
        assert [c.id for c in app.decided("jamie", limit=20, offset=30)] == [c.id for c in all_mine[30:50]]
        mine = app.decided("jamie", limit=20)
        assert len(mine) == 20 and mine == sorted(mine, key=lambda c: c.decided_at or 0, reverse=True)
        detail = app.run_detail(newest[-1].id, "alex")
        assert detail.steps and detail.audit
        assert detail.notifications and {e.status for e in detail.notifications} == {"skipped"}
    finally:
        app.close()
