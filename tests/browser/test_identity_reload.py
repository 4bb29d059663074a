"""Demo mode in a real browser: the person picked in "Signed in as" is still signed in after a reload."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, wait_for_text, wait_idle
from tests.browser.test_restart import pick


def test_the_picked_person_survives_a_reload(server: Server, page: Page) -> None:
    page.goto(server.url)
    wait_for_text(page, "Signed in as")
    wait_idle(page)
    picker = page.get_by_role("combobox", name="Signed in as")
    expect(picker).to_have_value("Dana Kim · Designer (marketing ops)")  # a first visit: the default
    pick(page, "Signed in as", "Jamie Rivera · Marketing reviewer")
    expect(picker).to_have_value("Jamie Rivera · Marketing reviewer")
    # the browser keeps the choice (a cookie written as the page settles; slower on a busy machine)
    for _ in range(100):
        if {c["name"]: c["value"] for c in page.context.cookies()}.get("loopdesk_demo_user") == "jamie":
            break
        page.wait_for_timeout(100)

    page.reload()
    wait_for_text(page, "Signed in as")
    wait_idle(page)
    picker = page.get_by_role("combobox", name="Signed in as")
    expect(picker).to_have_value("Jamie Rivera · Marketing reviewer")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("loopdesk_demo_user") == "jamie"
