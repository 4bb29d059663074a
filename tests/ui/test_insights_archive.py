"""Insights after archiving: live figures by default, archived runs counted on request."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.decisions import Approve
from engine.records import CheckpointQuery
from engine.services import Loopdesk

INSIGHTS = str(Path(__file__).resolve().parents[2] / "pages" / "insights.py")
MARKETING = "marketing-social-post"


def insights(user: str, archived: bool | None = None) -> AppTest:
    """The Insights page as `user` (optionally with the archive toggle set)."""
    at = AppTest.from_file(INSIGHTS, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    if archived is not None:
        at.session_state["insights_archived"] = archived
    at.run()
    assert not at.exception, at.exception
    return at


def marketing_runs(at: AppTest) -> int:
    """The Runs figure of the marketing workflow in the Workflows table (0 when it is not listed)."""
    for frame in at.dataframe:
        table = frame.value
        if "Runs" in table.columns:
            rows = table[table["Workflow"] == "Marketing social post"]
            return int(rows["Runs"].iloc[0]) if len(rows) else 0
    return 0


def test_archived_runs_leave_the_live_figures_and_count_again_on_request(
    service: Loopdesk, tmp_path: Path
) -> None:
    run = service.start_run(MARKETING, {"topic": "An old post"}, "dana")
    (cp,) = service.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
    assert service.decide(cp.id, "jamie", Approve()).status in ("completed", "waiting")
    while service.engine.get_run(run.id).status == "waiting":  # the translation review, if any
        (cp,) = service.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
        service.decide(cp.id, "morgan" if cp.assignee != "jamie" else "jamie", Approve())
    at = insights("alex")
    assert not at.toggle and marketing_runs(at) == 1
    moved = service.archive(time.time() + 1, "alex", tmp_path / "archive")
    assert sum(m["runs"] for m in moved.values()) == 1
    at = insights("alex")
    assert at.toggle[0].label == "Include archived runs" and at.toggle[0].value is False
    assert marketing_runs(at) == 0
    assert marketing_runs(insights("alex", archived=True)) == 1
