"""My account: create an API token (shown once), see it listed, revoke it; it stops working."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.errors import NotAuthenticatedError
from engine.services import Loopdesk
from tests.ui.conftest import click, shown

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "account.py")


def account(user: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_token_made_on_the_page_is_shown_once_and_can_be_revoked(service: Loopdesk) -> None:
    at = account("jamie")
    assert "You have no API tokens." in [i.value for i in at.info]
    at.text_input[0].input("CRM integration")
    click(at, "Create token")
    secret = at.code[0].value
    assert secret.startswith("ldk_")
    assert service.user_for_token(secret) == "jamie"
    assert any("CRM integration" in shown(m.value) and "active" in m.value for m in at.markdown)
    at.run()  # the next view no longer shows the secret
    assert not at.code
    click(at, "Revoke")
    assert any("revoked" in m.value for m in at.markdown)
    with pytest.raises(NotAuthenticatedError, match="revoked"):
        service.user_for_token(secret)


def test_nobody_sees_anyone_elses_tokens(service: Loopdesk) -> None:
    service.create_token("jamie", "jamie", "Jamie's script")
    at = account("riley")
    assert "You have no API tokens." in [i.value for i in at.info]
    assert not any("Jamie's script" in shown(m.value) for m in at.markdown)


def test_an_admin_chooses_the_default_model_others_do_not_see_the_setting(service: Loopdesk) -> None:
    assert not [t for t in account("dana").text_input if t.label == "Default model"]
    at = account("alex")
    box = next(t for t in at.text_input if t.label == "Default model")
    assert box.value == service.default_model()
    try:
        box.input("qwen2.5:7b")
        click(at, "Save default model")
        assert any("now use qwen2.5:7b" in shown(s.value) for s in at.success)
        assert service.default_model() == "qwen2.5:7b"
        next(t for t in at.text_input if t.label == "Default model").input("not a model")
        click(at, "Save default model")
        assert any("is not a model name" in shown(e.value) for e in at.error)
        assert service.default_model() == "qwen2.5:7b"  # a refused value changes nothing
    finally:
        service.set_default_model("alex", "")
