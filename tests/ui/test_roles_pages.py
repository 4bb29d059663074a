"""What each role sees on the pages: the same rules the services enforce, shown before anyone clicks."""

from __future__ import annotations

from engine.services import Loopdesk
from tests.conftest import save_variant
from tests.ui.conftest import keyed_select, page, shown
from tests.ui.test_runs_board import BOARD, MARKETING, RUNS
from tests.ui.test_runs_board import ROOT as _ROOT

DESIGNER = str(_ROOT / "pages" / "designer.py")
START = str(_ROOT / "pages" / "start_run.py")
TEMPLATES = str(_ROOT / "pages" / "templates.py")


def test_a_deep_link_to_someone_elses_run_finds_nothing(service: Loopdesk) -> None:
    run = service.start_run(MARKETING, {"topic": "Secret launch"}, "dana")
    at = page(RUNS, user="sam", run=run.id)
    assert f"no run with id `{run.id}`" in [e.value for e in at.error]
    assert not any(h.value == "Secret launch" for h in at.subheader)
    assert not at.dataframe or "Secret launch" not in list(at.dataframe[0].value["Task"])

    at = page(RUNS, user="jamie", run=run.id)  # the reviewer it waits for sees it
    assert any(h.value == "Secret launch" for h in at.subheader)
    assert not any(b.label == "Cancel run" for b in at.button)  # but may not cancel it
    at = page(RUNS, user="dana", run=run.id)
    assert any(b.label == "Cancel run" for b in at.button)


def test_the_designer_is_read_only_for_people_who_may_not_change_the_workflow(service: Loopdesk) -> None:
    at = page(DESIGNER, user="jamie")  # a reviewer: sees the workflows of their work, changes nothing
    assert any("Jamie Rivera is not a designer" in i.value for i in at.info)
    assert any("Marketing social post" in o for o in at.selectbox(key="designer_view_pick").options)
    assert any(h.value == "Steps" for h in at.subheader)
    labels = {b.label for b in at.button}
    assert not labels & {"Save", "Use template", "Import JSON", "Undo"} and not at.file_uploader

    at = page(DESIGNER, user="sam", workflow=MARKETING)  # a template: read-only for everyone
    assert any("is a shipped template: it stays as shipped" in i.value for i in at.info)
    assert [b.key for b in at.button if b.label == "Use template"] == ["designer_use_template"]
    assert "1. **Post request** · Form trigger" in " ".join(m.value for m in at.markdown)
    assert not any(b.label == "Save" for b in at.button)
    at.button(key="designer_use_template").click()  # a designer's own copy opens, editable
    at.run()
    assert not at.exception, at.exception
    assert at.query_params["workflow"] in ("marketing-social-post-sam", ["marketing-social-post-sam"])
    assert any(b.label == "Save" for b in at.button)

    mine = service.use_template(MARKETING, "dana")  # someone else's workflow: read-only, saying why
    at = page(DESIGNER, user="sam", workflow=mine.workflow_id)
    assert any(
        shown(i.value).startswith(
            "Sam Okafor is not a designer of Marketing social post (copy 2) (its editors: Dana Kim)"
        )
        for i in at.info
    )
    assert not any(b.label == "Save" for b in at.button)
    at.button(key="designer_back_to_own").click()
    at.run()
    options = keyed_select(at, "designer_pick").options
    assert "Marketing social post (copy)" in options
    assert not any("-dana" in o for o in options)


def test_start_a_run_offers_only_workflows_one_may_start(service: Loopdesk) -> None:
    wf = service.get_workflow("support-reply").definition
    only_support = wf.model_copy(
        update={"access": wf.access.model_copy(update={"starters": ["group:support"]})}
    )
    save_variant(service, only_support, "sam")
    at = page(START, user="jamie")
    assert not any("Support reply" in o for o in at.selectbox[0].options)
    at = page(START, user="riley")
    assert any("Support reply" in o for o in at.selectbox[0].options)


def test_board_is_for_a_workflows_designers_and_viewers(service: Loopdesk) -> None:
    service.start_run(MARKETING, {"topic": "Board check"}, "dana")
    at = page(BOARD, user="riley", workflow=MARKETING)
    assert not any("Marketing social post" in o for o in at.selectbox[0].options)
    at = page(BOARD, user="morgan", workflow=MARKETING)
    assert at.selectbox[0].value == MARKETING


def test_templates_page_offers_use_template_to_designers_only(service: Loopdesk) -> None:
    at = page(TEMPLATES, user="jamie")
    assert all(b.disabled for b in at.button if b.label in ("Use template", "Load demo data"))
    at = page(TEMPLATES, user="dana")
    assert not any(b.disabled for b in at.button if b.label in ("Use template", "Load demo data"))
