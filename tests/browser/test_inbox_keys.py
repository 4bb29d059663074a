"""The Inbox in a real browser: deciding from the keyboard, an opened item scrolled into view on a
phone, sorting/filtering and bulk decisions, the page's own title, and axe-core finding no serious
or critical accessibility problem."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import navigate, wait_for_text, wait_idle
from tests.browser.test_restart import pick
from tests.servers import Server, seed_database, start_server

TOPICS = ["Spring sale", "New office", "Hiring"]
JAMIE = "Jamie Rivera · Marketing reviewer"


class Inbox:
    """A server with three marketing drafts waiting for Jamie, and the API to read what happened."""

    def __init__(self, server: Server, token: str, runs: dict[str, str]) -> None:
        self.server = server
        self.token = token
        self.runs = runs  # topic -> run id

    def run(self, topic: str) -> dict[str, Any]:
        """The run document of the run started for `topic`, as its requester sees it."""
        r = requests.get(
            f"{self.server.url}/api/v1/runs/{self.runs[topic]}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        r.raise_for_status()
        return dict(r.json())

    def wait_for(self, topic: str, field: str, value: object, timeout: float = 30) -> dict[str, Any]:
        """Poll the run until `field` has `value` (the decision's run continues in the background)."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.run(topic)
            if doc.get(field) == value or time.monotonic() > deadline:
                assert doc.get(field) == value, doc
                return doc
            time.sleep(0.3)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    """Three runs of the marketing template started by Dana, each waiting at Jamie's review."""
    db = tmp_path / "keys.duckdb"
    token = seed_database(db, "dana")["dana"]
    server = start_server(db, tmp_path / "server.log")
    runs = {}
    try:
        for topic in TOPICS:
            r = requests.post(
                f"{server.url}/api/v1/workflows/marketing-social-post/runs",
                json={"inputs": {"topic": topic}},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert r.status_code == 201, r.text
            runs[topic] = r.json()["run_id"]
            time.sleep(0.05)  # distinct opening times: "oldest first" is the order they were started
        box = Inbox(server, token, runs)
        for topic in TOPICS:
            box.wait_for(topic, "status", "waiting")
        yield box
    finally:
        server.stop()


def open_inbox(page: Page, url: str) -> None:
    """Sign in as Jamie (demo picker) and open the Inbox."""
    page.goto(url)
    wait_for_text(page, "Signed in as")
    wait_idle(page)
    link = page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Inbox (3)")
    for _ in range(3):  # a choice made while the first page still reruns can be dropped: choose again
        pick(page, "Signed in as", JAMIE)
        try:
            link.wait_for(state="visible", timeout=8_000)
            break
        except PlaywrightTimeoutError:
            continue
    navigate(page, "Inbox (3)", "Inbox")
    wait_for_text(page, "Keyboard:")


def opened(page: Page, title: str) -> None:
    """Wait until `title` is the open item (its header shows and its list button says so) and the
    rerun that opened it has finished: until then the previous item's form is still on the page,
    greyed, and "the Comment box" would be two boxes (the race that made this test flaky)."""
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=f"Opened “{title}”")).to_be_visible()
    wait_idle(page)


def comment_box(page: Page, inbox: Inbox, topic: str) -> Locator:
    """The Comment box of the open item `topic` (its key names its checkpoint), never another's."""
    checkpoint = inbox.run(topic)["checkpoint_id"]
    return page.locator(f".st-key-comment_{checkpoint}").get_by_label("Comment", exact=True)


def press(page: Page, key: str) -> None:
    """Press a key with the focus on the page, not in a text box."""
    page.get_by_role("heading", name="Inbox", exact=True).click()
    page.keyboard.press(key)


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['impact']} {v['id']}: {v['help']} {[n['target'] for n in v['nodes'][:3]]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_deciding_from_the_keyboard(inbox: Inbox, page: Page) -> None:
    open_inbox(page, inbox.server.url)
    assert page.title() == "Inbox (3) · Loopdesk"
    expect(page.get_by_text("a approve · r reject · c request changes", exact=False)).to_be_visible()
    opened(page, "Spring sale")  # the oldest opens by itself

    assert serious_violations(page) == []
    # every list button names its item
    for topic in TOPICS[1:]:
        expect(page.get_by_role("button", name=f"Open “{topic}”")).to_be_visible()

    press(page, "j")
    opened(page, "New office")
    press(page, "k")
    opened(page, "Spring sale")
    press(page, "k")
    expect(page.get_by_text("That is the first item in the list.")).to_be_visible()

    # a: approve the open item, as the Approve button would
    press(page, "a")
    wait_for_text(page, "“Spring sale”: Approved")
    inbox.wait_for("Spring sale", "section", "Published")
    opened(page, "New office")  # the next oldest opens

    # r with no comment asks for one first and decides nothing
    press(page, "r")
    expect(page.get_by_text("Write why in the Comment box, press Esc, then r again.")).to_be_visible()
    comment = comment_box(page, inbox, "New office")
    expect(comment).to_be_focused()
    assert inbox.run("New office")["status"] == "waiting"
    page.keyboard.type("Off brand for our audience")
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    wait_for_text(page, "“New office”: Rejected")
    doc = inbox.wait_for("New office", "section", "Rejected")
    assert doc["outcome"] == "Rejected"  # the title of the end it reached

    # keys typed into a text box stay text
    opened(page, "Hiring")
    comment = comment_box(page, inbox, "Hiring")
    comment.click()
    page.keyboard.type("jar")
    expect(comment).to_have_value("jar")
    opened(page, "Hiring")

    # c: request changes with a note; the draft comes back with it
    comment.fill("Mention the Berlin office")
    comment.press("Escape")
    page.keyboard.press("c")
    wait_for_text(page, "“Hiring”: Changes requested")
    deadline = time.monotonic() + 30
    while inbox.run("Hiring")["values"].get("feedback") != "Mention the Berlin office":
        assert time.monotonic() < deadline, inbox.run("Hiring")
        time.sleep(0.3)
    inbox.wait_for("Hiring", "status", "waiting")  # redrafted, back at the review


def test_on_a_phone_an_opened_item_is_scrolled_into_view(inbox: Inbox, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(f"{inbox.server.url}/inbox")
        wait_for_text(page, "Signed in as")
        wait_idle(page)
        # on a phone the sidebar starts folded away: open it to sign in, then fold it again
        page.get_by_role("button", name="Expand sidebar").click()
        pick(page, "Signed in as", JAMIE)
        page.get_by_role("button", name="Collapse sidebar").click()
        wait_for_text(page, "Pending (3)")
        target = page.get_by_role("button", name="Open “Hiring”")
        target.scroll_into_view_if_needed()
        target.click()
        wait_idle(page)
        heading = page.get_by_role("heading", name="Hiring", exact=True)
        expect(heading).to_be_visible()
        # the item's title is up on the screen, its content below it, without scrolling by hand
        page.wait_for_timeout(1000)
        box = heading.bounding_box()
        assert box is not None and 0 <= box["y"] <= 844 * 0.6, box
        assert serious_violations(page) == []
    finally:
        context.close()


def test_filter_one_step_and_approve_several_at_once(inbox: Inbox, page: Page) -> None:
    open_inbox(page, inbox.server.url)
    # due soonest: all three have the same due time rule, so the order stays oldest first
    pick(page, "Sort", "Due soonest")
    pick(page, "Workflow", "Marketing social post")
    pick(page, "Checkpoint", "Review the draft")
    wait_for_text(page, "Decide several at once")
    page.get_by_text("Select “Spring sale”").click()
    wait_idle(page)
    page.get_by_text("Select “Hiring”").click()
    wait_idle(page)
    page.get_by_role("button", name="Approve 2 selected").click()
    wait_for_text(page, "Approved 2 of 2.")
    inbox.wait_for("Spring sale", "section", "Published")
    inbox.wait_for("Hiring", "section", "Published")
    assert inbox.run("New office")["status"] == "waiting"
    expect(page.get_by_role("tab", name="Pending (1)")).to_be_visible()
    assert serious_violations(page) == []
