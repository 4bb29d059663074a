"""Shared AppTest helpers: the service the pages use, running a page as someone, clicking a button."""

from __future__ import annotations

import html
import re
from typing import Any

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


def keyed_select(at: AppTest, base: str) -> Any:
    """The one selectbox whose key is `base` plus the value the page set (`ui.designer_intents.value_key`):
    the Designer's workflow picker (`designer_pick`) or its "Selected" (`designer_inspect:<workflow>`)."""
    found = [s for s in at.selectbox if s.key is not None and s.key.startswith(f"{base}:")]
    assert len(found) == 1, f"expected one selectbox keyed {base}:…, found {[s.key for s in found]}"
    return found[0]
