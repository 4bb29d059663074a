"""Everything a user typed is shown literally: Markdown and HTML in it never take effect."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import engine.catalog
from engine.catalog import Template
from engine.services import Loopdesk
from tests.conftest import load_template, save_variant
from tests.ui.conftest import page, shown

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "![px](http://t.invalid/p.png)"


def rendered_unsafely(markdown: str) -> bool:
    """Whether Markdown text would draw an image or a link (unescaped `![`, `](`, or `<img`)."""
    unescaped = markdown.replace("\\[", "").replace("\\]", "").replace("\\(", "").replace("\\<", "")
    return "![" in unescaped or "](" in unescaped or "<img" in unescaped


def test_the_template_gallery_shows_names_and_descriptions_literally(
    service: Loopdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    wf = load_template("marketing_social_post")
    hostile = wf.model_copy(update={"name": f"Spring {IMAGE}", "description": f"Posts {IMAGE} <img src=x>"})
    monkeypatch.setattr(engine.catalog, "list_templates", lambda *a, **k: [Template(hostile, Path("x.json"))])
    at = AppTest.from_file(str(ROOT / "pages" / "templates.py"), default_timeout=30)
    at.session_state["loopdesk_user"] = "dana"
    at.run()
    assert not at.exception, at.exception
    heading = next(h for h in at.subheader if "Spring" in shown(h.value))
    assert shown(heading.value) == f"Spring {IMAGE}" and not rendered_unsafely(heading.value)
    body = next(m for m in at.markdown if "Posts" in shown(m.value))
    assert shown(body.value) == f"Posts {IMAGE} <img src=x>" and not rendered_unsafely(body.value)


def test_form_labels_help_and_description_are_shown_literally(service: Loopdesk) -> None:
    data = service.get_workflow("support-reply").definition.model_dump()
    data["description"] = f"Replies {IMAGE}"
    form = next(n for n in data["nodes"] if n["id"] == "form")
    form["fields"][0].update(label=f"Name {IMAGE}", help=f"Who {IMAGE}")
    save_variant(service, type(service.get_workflow("support-reply").definition).model_validate(data), "sam")
    at = page(str(ROOT / "pages" / "start_run.py"), user="riley", workflow="support-reply")
    label = at.text_input[0].label
    assert shown(label) == f"Name {IMAGE}" and not rendered_unsafely(label)
    for text in (f"Replies {IMAGE}", f"Who {IMAGE}"):
        caption = next(c.value for c in at.caption if shown(c.value) == text)
        assert not rendered_unsafely(caption)


def test_engine_messages_keep_code_spans_and_escape_the_rest(service: Loopdesk) -> None:
    mine = service.use_template("marketing-social-post", "dana")
    service.save_workflow(mine.definition.model_copy(update={"name": f"Launch {IMAGE}"}), "dana")
    at = page(str(ROOT / "pages" / "designer.py"), user="sam", workflow=mine.workflow_id)
    (why,) = [i.value for i in at.info if "Sam Okafor" in shown(i.value)]  # shown read-only, saying why
    assert shown(why).startswith(f"Sam Okafor is not a designer of Launch {IMAGE}")
    assert not rendered_unsafely(why)
