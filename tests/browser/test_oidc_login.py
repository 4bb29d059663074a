"""Real login in a real browser against a local OpenID Connect provider: a verified email in the
directory signs in as that person; an unknown or unverified email sees a clear message and no data."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import oidc_provider_mock
import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.services import Loopdesk
from tests.browser.conftest import wait_idle
from tests.servers import Server, free_port, start_server

USERS = [
    oidc_provider_mock.User(
        sub="jamie", claims={"email": "jamie@example.com", "email_verified": True, "name": "J. R."}
    ),
    oidc_provider_mock.User(sub="stranger", claims={"email": "stranger@example.com", "email_verified": True}),
    oidc_provider_mock.User(sub="unverified", claims={"email": "jamie@example.com", "email_verified": False}),
]


@pytest.fixture
def provider() -> Iterator[str]:
    """The OIDC provider on 127.0.0.1; yields its issuer URL."""
    app = oidc_provider_mock.app(user_claims=USERS)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def oidc_app(tmp_path: Path, provider: str) -> Iterator[Server]:
    db = tmp_path / "login.duckdb"
    app = Loopdesk.open(str(db), provider=DemoProvider(), directory=Directory.load())
    try:
        app.install_templates()
        app.start_run("marketing-social-post", {"topic": "Behind the login"}, "dana")
    finally:
        app.close()
    port = free_port()
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a-cookie-secret-only-for-this-test-0123456789"\n'
        'client_id = "loopdesk"\n'
        'client_secret = "loopdesk-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    server = start_server(
        db,
        tmp_path / "server.log",
        extra_env={"LOOPDESK_AUTH": "oidc"},
        port=port,
        extra_args=["--secrets.files", str(secrets)],
    )
    try:
        yield server
    finally:
        server.stop()


def log_in(page: Page, server: Server, who: str) -> None:
    page.goto(server.url)
    wait_idle(page)
    expect(page.get_by_text("Signed in as")).to_have_count(0)  # no picker, no fallback user
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Log in").click()
    page.get_by_role("button", name=who, exact=True).click()  # the provider's login form
    page.wait_for_url(f"{server.url}/**")
    expect(page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Log out")).to_be_visible()
    wait_idle(page)


def test_a_verified_directory_email_signs_in_as_that_person(oidc_app: Server, page: Page) -> None:
    log_in(page, oidc_app, "jamie")
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("Jamie Rivera")).to_be_visible()
    page.goto(f"{oidc_app.url}/inbox")  # the login holds across page loads (a cookie)
    wait_idle(page)
    expect(sidebar.get_by_text("Jamie Rivera")).to_be_visible()
    expect(page.get_by_text("Behind the login").first).to_be_visible()


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("stranger", "stranger@example.com is not in the Loopdesk user directory"),
        ("unverified", "jamie@example.com is not verified by your identity provider"),
    ],
)
def test_an_unknown_or_unverified_email_sees_why_and_no_data(
    oidc_app: Server, page: Page, who: str, message: str
) -> None:
    log_in(page, oidc_app, who)
    expect(page.get_by_text(message).first).to_be_visible()
    page.goto(f"{oidc_app.url}/inbox")  # an item link from an email, say
    wait_idle(page)
    expect(page.get_by_text(message).first).to_be_visible()
    expect(page.get_by_text("Behind the login")).to_have_count(0)
