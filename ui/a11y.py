"""Repairs to Streamlit's own markup that screen readers and axe-core trip over.

Streamlit 1.67 renders a toast as `role="alertdialog"` labelled by an element id it never
renders, so the dialog has no accessible name. A small script, mounted once per page, names each
toast by its text as it appears. Nothing else on the page is touched.
"""

from __future__ import annotations

import streamlit as st

_JS = """
export default function () {
  const name = () => document.querySelectorAll('[data-testid="stToast"]').forEach((toast) => {
    const text = toast.innerText.replace(/\\s+/g, ' ').trim();
    if (text && toast.getAttribute('aria-label') !== text) toast.setAttribute('aria-label', text);
  });
  name();
  const observer = new MutationObserver(name);
  observer.observe(document.body, { childList: true, subtree: true });
  return () => observer.disconnect();
}
"""

_repairs = st.components.v2.component("loopdesk_a11y", js=_JS)


def repair_markup() -> None:
    """Mount the repairs (call once per page view, in the sidebar)."""
    _repairs(key="loopdesk_a11y")
