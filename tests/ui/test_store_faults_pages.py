"""What a person sees while the database cannot be used: one clear message, never a traceback, and
the app back to normal by itself once the cause is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.decisions import Approve
from engine.errors import StoreUnavailableError
from engine.records import CheckpointQuery
from tests.engine.test_store_faults import fill, small_disk  # noqa: F401  (fixture)
from tests.fakes.clock import MovableClock
from tests.ui.conftest import shown
from ui.runtime import get_app, reset_app

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["templates", "designer", "start_run", "inbox", "runs", "board", "insights"]


def run_page(path: str, user: str = "dana") -> AppTest:
    at = AppTest.from_file(path, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.usefixtures("streamlit_app")
def test_a_damaged_database_gets_one_message_on_every_page_until_it_is_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "damaged.duckdb"
    db.write_bytes(b"not a database" * 1000)
    monkeypatch.setenv("LOOPDESK_DB", str(db))
    for page in ["app", *PAGES]:
        at = run_page(str(ROOT / ("app.py" if page == "app" else f"pages/{page}.py")))
        messages = [shown(e.value) for e in at.error]
        assert len(messages) == 1, (page, messages)
        damaged = "**The database is damaged.** Loopdesk cannot read its database"
        assert messages[0].startswith(damaged), messages
        assert str(db) in messages[0] and "restore that file from a backup" in messages[0]
        assert "Traceback" not in messages[0] and not at.exception
    db.unlink()  # an admin restores (here: removes) the file; the next load just works
    at = run_page(str(ROOT / "pages" / "start_run.py"))
    assert not at.error and at.selectbox[0].label == "Workflow"


@pytest.mark.usefixtures("streamlit_app")
def test_a_full_disk_shows_a_banner_on_every_page_that_goes_away_by_itself(
    monkeypatch: pytest.MonkeyPatch,
    small_disk: Path,  # noqa: F811
) -> None:
    monkeypatch.setenv("LOOPDESK_DB", str(small_disk / "loopdesk.duckdb"))
    reset_app()
    app = get_app()
    app.store.clock = clock = MovableClock()
    run = app.start_run("marketing-social-post", {"topic": "Full disk"}, "dana")
    cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
    filler = fill(small_disk)
    with pytest.raises(StoreUnavailableError):
        app.decide(cp, "jamie", Approve())

    at = run_page(str(ROOT / "app.py"), user="jamie")
    banner = [shown(e.value) for e in at.main.error]
    assert any("cannot be used right now: No space left on device" in b for b in banner), banner
    assert [t.value for t in at.title] == ["Templates"]  # the pages still work for reading

    filler.unlink()
    clock.advance(2.1)  # the next health check tries a write again
    at = run_page(str(ROOT / "app.py"), user="jamie")
    assert not [e for e in at.main.error if "cannot be used" in shown(e.value)]
    assert app.decide(cp, "jamie", Approve()).status == "completed"
