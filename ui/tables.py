"""Editable tables (st.data_editor) whose rows become model values."""

from __future__ import annotations

from typing import Any, cast

import streamlit as st


def frozen_rows(key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a data editor started from: its edits are relative to them, so they stay fixed."""
    slot = f"{key}:base"
    if slot not in st.session_state:
        st.session_state[slot] = rows
    return list(st.session_state[slot])


def records(edited: Any) -> list[dict[str, Any]]:
    """Rows returned by st.data_editor as plain dicts (list input gives a list back)."""
    if hasattr(edited, "to_dict"):
        return cast(list[dict[str, Any]], edited.to_dict("records"))
    return [dict(r) for r in edited]
