"""Long lists come a page at a time: the Inbox, past decisions, Runs and the Board count what they
hold and read only what they show."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.decisions import Approve
from engine.services import Loopdesk
from tests.ui.conftest import click, page, shown

ROOT = Path(__file__).resolve().parents[2]
INBOX = str(ROOT / "pages" / "inbox.py")
RUNS = str(ROOT / "pages" / "runs.py")
BOARD = str(ROOT / "pages" / "board.py")
MARKETING = "marketing-social-post"
RUNS_MADE = 56
MAX_CARDS = 20  # pages/board.py: cards drawn per section


def open_buttons(at: AppTest) -> int:
    """How many inbox items are listed (each has an Open button)."""
    return sum(1 for b in at.button if str(b.key or "").startswith("open_"))


def texts(at: AppTest) -> str:
    """Every caption and Markdown text on the page, as read."""
    return "\n".join(shown(e.value) for e in [*at.caption, *at.markdown])


@pytest.fixture
def many_runs(service: Loopdesk) -> list[str]:
    """56 marketing runs by Dana, all waiting for Jamie."""
    return [service.start_run(MARKETING, {"topic": f"Post {i}"}, "dana").id for i in range(RUNS_MADE)]


def test_the_inbox_lists_fifty_items_counts_all_and_shows_more_on_request(
    service: Loopdesk, many_runs: list[str]
) -> None:
    at = page(INBOX, "jamie")
    assert at.tabs[0].label == f"Pending ({RUNS_MADE})"
    assert open_buttons(at) == 50
    assert f"Showing 50 of {RUNS_MADE} items." in texts(at)
    click(at, f"Show {RUNS_MADE - 50} more")
    assert open_buttons(at) == RUNS_MADE
    assert "Show " not in " ".join(b.label for b in at.button if b.label.endswith("more"))


def test_past_decisions_come_twenty_at_a_time(service: Loopdesk, many_runs: list[str]) -> None:
    for cp in service.inbox("jamie"):
        service.decide(cp.id, "jamie", Approve())
    at = page(INBOX, "jamie")
    assert at.tabs[0].label == "Pending (0)"
    assert f"Showing 20 of {RUNS_MADE} decisions." in texts(at)
    assert len(at.expander) == 20
    click(at, "Show 20 more")
    assert len(at.expander) == 40
    click(at, f"Show {RUNS_MADE - 40} more")
    assert len(at.expander) == RUNS_MADE and "Showing" not in texts(at)


def test_runs_come_a_page_at_a_time(service: Loopdesk, many_runs: list[str]) -> None:
    at = page(RUNS, "alex")
    assert len(at.dataframe[0].value) == 50
    assert f"Runs 1–50 of {RUNS_MADE}, newest first" in texts(at)
    click(at, "Older")
    assert list(at.dataframe[0].value["Run id"]) == list(reversed(many_runs[: RUNS_MADE - 50]))
    assert f"Runs 51–{RUNS_MADE} of {RUNS_MADE}, newest first" in texts(at)
    click(at, "Newer")
    assert f"Runs 1–50 of {RUNS_MADE}" in texts(at)


def test_runs_someone_took_part_in_are_paged_without_counting_all_of_history(
    service: Loopdesk, many_runs: list[str]
) -> None:
    at = page(RUNS, "jamie")  # not an admin: the runs they review, found newest first
    assert len(at.dataframe[0].value) == 50
    assert "Runs 1–50, newest first" in texts(at)
    click(at, "Older")
    assert len(at.dataframe[0].value) == RUNS_MADE - 50
    assert next(b for b in at.button if b.label == "Older").disabled


def test_the_board_counts_every_task_and_shows_the_newest_of_each_section(
    service: Loopdesk, many_runs: list[str]
) -> None:
    at = page(BOARD, "dana", workflow=MARKETING)
    read = texts(at)
    assert f"{RUNS_MADE} tasks" in read
    assert f"Draft review · {RUNS_MADE}" in read
    assert f"+ {RUNS_MADE - MAX_CARDS} older (see Runs)" in read
    newest = [shown(m.value).strip("*") for m in at.markdown if m.value.startswith("**Post ")]
    assert newest == [f"Post {i}" for i in range(RUNS_MADE - 1, RUNS_MADE - 1 - MAX_CARDS, -1)]
