"""Shared AppTest helpers: the service the pages use, running a page as someone, clicking a button."""

from __future__ import annotations

import html
import re

import pytest
from streamlit.testing.v1 import AppTest

from engine.services import Loopdesk
from ui.runtime import get_app


@pytest.fixture
def service(streamlit_app: None) -> Loopdesk:
    """The same service the pages use (its first start installs the templates)."""
    return get_app()


def click(at: AppTest, label: str) -> AppTest:
    """Click the first button with this label and rerun."""
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def shown(text: str) -> str:
    """What a person reads: Markdown backslash escapes and HTML entities resolved."""
    return html.unescape(re.sub(r"\\(.)", r"\1", text))


def page(path: str, user: str = "dana", **params: str) -> AppTest:
    """Run a page script as `user` with these query parameters; it must not raise."""
    at = AppTest.from_file(path, default_timeout=60)
    at.session_state["loopdesk_user"] = user
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at
