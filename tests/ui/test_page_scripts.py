"""Page scripts run with Streamlit's "magic": a bare string statement is drawn on the page."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).resolve().parents[2] / "pages").glob("*.py"))


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_no_page_has_a_stray_string_that_magic_would_draw(path: Path) -> None:
    body = ast.parse(path.read_text()).body
    stray = [
        node.lineno
        for node in body[1:]  # the module docstring is not drawn
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    assert stray == [], (
        f"{path.name}: a string on line(s) {stray} would be shown to every user; use a comment"
    )
