"""The Connections page: an admin adds a connection, sees only the last characters of its secrets,
changes a setting without retyping them, and deletes it; others see that only admins may."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from engine.services import Loopdesk
from tests.ui.conftest import click, page, shown

CONNECTIONS = str(Path(__file__).resolve().parents[2] / "pages" / "connections.py")
SECRET = "Bearer sk-live-canary-0123456789"


def box(at: AppTest, label: str) -> Any:
    """The text box with this label."""
    return next(t for t in at.text_input if t.label == label)


def test_an_admin_adds_changes_and_deletes_a_connection_and_never_sees_a_secret_again(
    service: Loopdesk,
) -> None:
    at = page(CONNECTIONS, user="alex")
    assert "No connections yet." in [i.value for i in at.info]
    type_pick = next(s for s in at.selectbox if s.label == "Type")
    type_pick.select("http").run()
    box(at, "Name").input("crm")
    box(at, "Base URL").input("https://crm.example.com")
    box(at, "Header name").input("Authorization")
    box(at, "Header value").input(SECRET)
    click(at, "Save connection")
    assert "Saved connection crm." in [s.value for s in at.success]
    text = " ".join(shown(c.value) for c in at.caption)
    assert "header.Authorization: `••••6789`" in text and SECRET not in text
    assert service.connections.use("crm", "http").values["header.Authorization"] == SECRET

    assert next(s for s in at.selectbox if s.label == "Connection").value == "crm"  # the saved one opens
    assert box(at, "Base URL").value == "https://crm.example.com"
    assert all(t.value in ("", None) or SECRET not in str(t.value) for t in at.text_input)
    box(at, "Timeout (s)").input("10")
    click(at, "Save connection")
    assert service.connections.use("crm", "http").values == {
        "base_url": "https://crm.example.com",
        "timeout_seconds": "10",
        "header.Authorization": SECRET,  # kept: its box was left empty
    }

    box(at, "Base URL").input("ftp://nope")
    click(at, "Save connection")
    assert any("base_url must be an http:// or https:// URL" in shown(e.value) for e in at.error)
    assert service.connections.use("crm", "http").values["base_url"] == "https://crm.example.com"

    next(s for s in at.selectbox if s.label == "Connection").select("New connection…").run()
    next(s for s in at.selectbox if s.label == "Type").select("http").run()
    assert box(at, "Name").value == ""  # a new form starts empty after a save
    box(at, "Name").input("crm")
    box(at, "Base URL").input("https://other.example.com")
    click(at, "Save connection")
    assert any("there is already a connection named “crm”" in shown(e.value) for e in at.error)
    assert service.connections.use("crm", "http").values["base_url"] == "https://crm.example.com"

    next(s for s in at.selectbox if s.label == "Connection").select("crm").run()
    click(at, "Delete for good")
    assert "Deleted connection crm." in [s.value for s in at.success]
    assert service.connections.list("alex") == []


def test_someone_who_is_not_an_admin_is_told_only_admins_see_connections(service: Loopdesk) -> None:
    service.connections.set("alex", "crm", "http", {"base_url": "https://crm.example.com"})
    at = page(CONNECTIONS, user="dana")
    assert any("Only admins see and change connections" in i.value for i in at.info)
    assert not at.text_input and "crm" not in " ".join(m.value for m in at.markdown)
