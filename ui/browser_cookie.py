"""Write a value into a browser cookie from Python (read back with `st.context.cookies` after a reload)."""

from __future__ import annotations

import streamlit as st

_JS = """
export default function ({ data }) {
  if (!data || !data.name) return;
  const value = encodeURIComponent(data.value || '');
  const current = document.cookie.split('; ').find((c) => c.startsWith(data.name + '='));
  if (current === data.name + '=' + value) return;
  document.cookie = `${data.name}=${value}; path=/; max-age=${data.max_age}; SameSite=Lax`;
}
"""

_cookie = st.components.v2.component("loopdesk_cookie", js=_JS)
YEAR = 365 * 24 * 3600


def keep_cookie(name: str, value: str, max_age: int = YEAR) -> None:
    """Have the browser keep `name=value` for this site (sent with every later page load)."""
    _cookie(key=f"loopdesk_cookie_{name}", data={"name": name, "value": value, "max_age": max_age})
