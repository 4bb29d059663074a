"""Streamlit's secrets (`.streamlit/secrets.toml`), read the same way by the pages and the API."""

from __future__ import annotations

from typing import Any

import streamlit as st


def read_secrets() -> dict[str, Any]:
    """Streamlit secrets as a plain dict (empty when there is no secrets file)."""
    try:
        return {k: st.secrets[k] for k in st.secrets}
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return {}
