"""Inbox: reviewers see their checkpoints, decide them, and the engine enforces who may."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.decisions import Approve
from engine.forms import example_values
from engine.llm.base import CallProgress, LLMRequest, LLMResponse
from engine.llm.demo import DemoProvider
from engine.model import AutoApproval, Quorum
from engine.records import CheckpointClose, CheckpointQuery, RunRecord, Transition
from engine.services import Loopdesk
from tests.conftest import save_variant
from tests.engine.helpers import decision_of, with_auto_approval
from tests.ui.conftest import click, shown
from tests.waiting import wait_until
from ui.review import due_markdown
from ui.runtime import get_app

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "inbox.py")
EDITED = "Every campaign result in one place, refreshed every hour."


def a_sentence(draft: str) -> str:
    """A sentence of the demo draft to edit (its longest line that isn't the demo tag)."""
    lines = [line for line in draft.splitlines() if line.strip() and not line.startswith("[Demo")]
    return max(lines, key=len)


def inbox(user: str, cp: str | None = None) -> AppTest:
    """The Inbox page for `user` (optionally with `?cp=`)."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    if cp:
        at.query_params["cp"] = cp
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def waiting_run(service: Loopdesk) -> RunRecord:
    """A marketing run started by Dana, waiting for Jamie's review."""
    inputs = {
        "topic": "Our spring webinar",
        "key_message": "Teams see campaign results in one place, updated every hour.",
    }
    run = service.start_run("marketing-social-post", inputs, "dana")
    assert run.status == "waiting"
    return run


def test_my_pending_checkpoint_shows_everything_needed_to_decide(waiting_run: RunRecord) -> None:
    at = inbox("jamie")
    assert at.title[0].value == "Inbox"
    assert at.tabs[0].label == "Pending (1)"
    assert any(h.value == "Our spring webinar" for h in at.header)
    markdown = [m.value for m in at.markdown]
    assert any("waiting" in m and "due in 1 d 23 h" in m for m in markdown)
    assert any("Channel: `LinkedIn`" in m for m in markdown)
    assert any("brand voice" in i.value for i in at.info)  # the instructions
    cp = get_app().inbox("jamie")[0]
    draft = at.text_area(key=f"edit_{cp.id}_draft").value
    assert draft is not None and draft == cp.shown["draft"] and "let's talk about" in draft
    assert "[Demo" not in draft  # the demo label is beside the draft, not inside it
    assert any("demo output (offline demo model)" in shown(c.value) for c in at.caption)
    assert {"Approve", "Reject", "Request changes", "Reassign"} <= {b.label for b in at.button}


def test_approving_with_an_edit_advances_the_run_and_the_audit_names_me(waiting_run: RunRecord) -> None:
    service = get_app()
    cp = service.inbox("jamie")[0]
    at = inbox("jamie")
    draft = at.text_area(key=f"edit_{cp.id}_draft")
    assert draft.value is not None
    draft.input(draft.value.replace(a_sentence(draft.value), EDITED))
    click(at, "Approve")

    assert any("Approved with 1 edited value" in s.value for s in at.success)
    assert service.inbox("jamie") == []
    assert at.tabs[0].label == "Pending (0)"
    wait_until(lambda: service.engine.get_run(waiting_run.id).status == "completed", "the run moves on")
    run = service.engine.get_run(waiting_run.id)
    assert run.section == "Published" and EDITED in run.values["draft"]
    approvals = [e for e in service.run_detail(run.id, "cli").audit if e.event == "decision_approve"]
    assert [e.actor for e in approvals] == ["jamie"]
    assert approvals[0].detail["edits"]["draft"]["after"] == run.values["draft"]

    # The Decided tab lists the decision with a word-level diff of the edit and its size.
    at.run()
    diffs = [shown(m.value) for m in at.markdown if "red-background[~~" in m.value]
    assert diffs and not any("@@" in d for d in diffs)
    assert any(":green-background[Every campaign result in one place," in d for d in diffs), diffs
    assert any(m.value.startswith("**Your edit of draft** ·") and "changed" in m.value for m in at.markdown)


def test_reject_without_a_comment_is_refused_and_nothing_changes(waiting_run: RunRecord) -> None:
    service = get_app()
    cp = service.inbox("jamie")[0]
    at = click(inbox("jamie"), "Reject")
    assert "Write the reason in the Comment box, then reject." in [e.value for e in at.error]
    assert service.engine.get_checkpoint(cp.id).status == "pending"
    assert service.engine.get_run(waiting_run.id).status == "waiting"

    at = click(inbox("jamie"), "Request changes")
    assert any("saying what to change" in e.value for e in at.error)
    assert service.engine.get_checkpoint(cp.id).status == "pending"

    at.text_area(key=f"comment_{cp.id}").input("Off brand; we don't do this topic.")
    click(at, "Reject")
    assert service.engine.get_checkpoint(cp.id).status == "decided"
    wait_until(lambda: service.engine.get_run(waiting_run.id).status == "rejected", "the run moves on")
    assert service.engine.get_run(waiting_run.id).section == "Rejected"


def test_request_changes_sends_the_draft_back_with_my_note(waiting_run: RunRecord) -> None:
    service = get_app()
    cp = service.inbox("jamie")[0]
    at = inbox("jamie")
    at.text_area(key=f"comment_{cp.id}").input("Mention the free trial.")
    click(at, "Request changes")
    assert any("Changes requested" in s.value for s in at.success)

    def revised() -> bool:
        items = service.inbox("jamie")
        return bool(items) and items[0].id != cp.id

    wait_until(revised, "the revision is drafted")
    new = service.inbox("jamie")[0]
    assert new.run_id == waiting_run.id and "free trial" in str(new.shown["draft"]).lower()


def test_an_overdue_checkpoint_is_highlighted(waiting_run: RunRecord) -> None:
    cp = get_app().inbox("jamie")[0]
    assert due_markdown(cp).endswith("due in 1 d 23 h")
    late = replace(cp, created_at=time.time() - 50 * 3600, due_at=time.time() - 2 * 3600)
    assert due_markdown(late) == "waiting 2 d 2 h · :red[**overdue by 2 h**]"


def test_another_user_does_not_see_my_items_and_cannot_decide_them(waiting_run: RunRecord) -> None:
    service = get_app()
    cp = service.inbox("jamie")[0]
    at = inbox("sam")
    assert at.tabs[0].label == "Pending (0)"
    assert any("Nothing is waiting for you" in i.value for i in at.info)
    assert not any(b.label == "Approve" for b in at.button)

    # Sam takes no part in marketing: a direct link to the checkpoint finds nothing.
    at = inbox("sam", cp=cp.id)
    assert f"no checkpoint with id `{cp.id}`" in [e.value for e in at.error]
    assert not any(b.label == "Approve" for b in at.button)

    # Morgan sees every marketing run, but the checkpoint is Jamie's: the engine refuses and says why.
    at = inbox("morgan", cp=cp.id)
    refusal = "Morgan Lee may not decide this checkpoint: it is assigned to Jamie Rivera"
    assert any(w.value.startswith("Morgan Lee may not decide this checkpoint") for w in at.warning)
    click(at, "Approve")
    assert refusal in [shown(e.value) for e in at.error]
    assert service.engine.get_checkpoint(cp.id).status == "pending"


def test_a_decision_that_lost_the_race_shows_the_engine_message(waiting_run: RunRecord) -> None:
    service = get_app()
    cp = service.inbox("jamie")[0]
    at = inbox("jamie")
    service.decide(cp.id, "alex", Approve(comment="done in another tab"))
    click(at, "Approve")
    expected = "Already approved by Alex Admin at "
    assert any(shown(e.value).startswith(expected) for e in at.error), [e.value for e in at.error]


def test_reassign_needs_a_target_and_moves_the_item(waiting_run: RunRecord) -> None:
    service = get_app()
    cp = service.inbox("jamie")[0]
    at = click(inbox("jamie"), "Reassign")
    assert any("Pick who should get this checkpoint" in e.value for e in at.error)
    assert service.engine.get_checkpoint(cp.id).assignee == "jamie"

    # the marketing approval may go to the marketing reviewers or the managers, nobody else
    target = at.selectbox(key=f"target_{cp.id}")
    assert target.options == ["Marketing reviewers (group)", "Managers (group)"]
    target.select("group:managers")
    click(at, "Reassign")
    assert any("Reassigned to Managers (group)" in shown(s.value) for s in at.success)
    assert service.inbox("jamie") == []
    assert [c.id for c in service.inbox("morgan")] == [cp.id]
    assert service.engine.get_run(waiting_run.id).status == "waiting"


def test_filter_to_one_step_and_decide_several_with_one_decided_meanwhile(service: Loopdesk) -> None:
    runs = [
        service.start_run("marketing-social-post", {"topic": f"Launch note {i}"}, "dana") for i in range(3)
    ]
    cps = {c.run_id: c for c in service.inbox("jamie")}
    at = inbox("jamie")
    assert not any(b.label.startswith("Approve 0") for b in at.button)  # no bulk bar for a mixed list
    opens = [b.label for b in at.button if str(b.key or "").startswith("open_")]
    assert all(label.startswith(("Open “", "Opened “")) for label in opens)  # named for screen readers
    assert len(set(opens)) == len(opens)

    at.selectbox(key="inbox_workflow").set_value("marketing-social-post").run()
    at.selectbox(key="inbox_step").set_value("review").run()
    assert not at.exception, at.exception
    for run in runs:
        at.checkbox(key=f"pick_{cps[run.id].id}").check()
    at.run()
    service.decide(cps[runs[1].id].id, "jamie", Approve(comment="in another tab"))
    click(at, "Approve 3 selected")
    flash = [shown(s.value) for s in at.success]
    assert any(f.startswith("Approved 2 of 3.") for f in flash), flash
    lost = "“Launch note 1” was not decided: Already approved by Jamie Rivera at "
    assert any(lost in f for f in flash), flash
    wait_until(
        lambda: all(service.engine.get_run(run.id).status == "completed" for run in runs), "the runs end"
    )
    decisions = [service.engine.get_checkpoint(c.id).decided_by for c in cps.values()]
    assert decisions == ["jamie"] * 3  # each its own decision, each once
    audit = [a.event for r in runs for a in service.store.list_audit(r.id) if a.event == "decision_approve"]
    assert len(audit) == 3


def test_rows_show_reminders_quorum_progress_and_the_next_escalation(service: Loopdesk) -> None:
    run = service.start_run("marketing-social-post", {"topic": "Escalated post"}, "dana")
    cp = service.inbox("jamie")[0]
    moved = replace(cp.policy, reminders=2)
    service.store.apply(
        Transition(close_checkpoint=CheckpointClose(cp.id, "pending", "system", policy=moved, action_at=None))
    )
    at = inbox("jamie")
    text = " ".join(m.value for m in at.markdown)
    assert ":orange-badge[Reminded 2×]" in text
    assert run.status == "waiting"


def test_a_quorum_member_who_approved_sees_it_counted_and_the_item_leaves_their_inbox(
    service: Loopdesk,
) -> None:
    wf = service.get_workflow("marketing-social-post").definition
    nodes = [
        n.model_copy(
            update={"assignee": "group:marketing", "editable_values": [], "quorum": Quorum(mode="all")}
        )
        if n.id == "review"
        else n
        for n in wf.nodes
    ]
    save_variant(service, wf.model_copy(update={"nodes": nodes}))
    run = service.start_run("marketing-social-post", {"topic": "Needs both"}, "dana")
    (cp,) = service.inbox("jamie")

    at = inbox("jamie")
    click(at, "Approve")
    flash = " ".join(shown(s.value) for s in at.success)
    assert "your approval is counted (1 of 2 approved: Jamie Rivera)" in flash
    assert "waits for the other approvals" in flash
    assert at.tabs[0].label == "Pending (0)" and service.inbox_count("jamie") == 0
    assert service.engine.get_run(run.id).status == "waiting"

    at = inbox("morgan")  # the other member still has it, with the progress so far
    assert at.tabs[0].label == "Pending (1)"
    assert any("1 of 2 approved: Jamie Rivera" in shown(m.value) for m in at.markdown)
    click(at, "Approve")
    assert any("Approved. The run carries on." in shown(s.value) for s in at.success)
    wait_until(lambda: service.engine.get_run(run.id).status == "completed", "the run moves on")
    assert decision_of(service.engine.get_checkpoint(cp.id))["approvals"] == ["jamie", "morgan"]


def test_an_admin_replaces_one_approver_by_name_and_overrides_a_quorum_only_with_a_reason(
    service: Loopdesk,
) -> None:
    wf = service.get_workflow("marketing-social-post").definition
    quorum = {"assignee": "group:marketing", "editable_values": [], "quorum": Quorum(mode="all")}
    nodes = [n.model_copy(update=quorum) if n.id == "review" else n for n in wf.nodes]
    save_variant(service, wf.model_copy(update={"nodes": nodes}))
    run = service.start_run("marketing-social-post", {"topic": "Needs both"}, "dana")
    (cp,) = service.inbox("jamie")

    at = inbox("alex", cp.id)
    place = at.selectbox(key=f"place_{cp.id}")
    assert place.options == ["Jamie Rivera", "Morgan Lee"]  # whose place the new person may take
    at.selectbox(key=f"target_{cp.id}").select("riley")
    click(at, "Reassign")
    assert any("Pick whose place they take" in e.value for e in at.error)
    at.selectbox(key=f"place_{cp.id}").select("jamie")
    click(at, "Reassign")
    assert any("Reassigned to Riley Chen" in shown(s.value) for s in at.success)
    assert service.engine.get_checkpoint(cp.id).policy.seat_holders() == {"jamie": "riley"}
    assert service.inbox("jamie") == [] and [c.id for c in service.inbox("riley")] == [cp.id]

    at = inbox("alex", cp.id)
    click(at, "Approve")
    assert any("Why you approve it without the approvals it still waits for" in e.value for e in at.error)
    assert service.engine.get_checkpoint(cp.id).status == "pending"
    at.text_input(key=f"override_{cp.id}").input("Launch is in an hour")
    click(at, "Approve")
    wait_until(lambda: service.engine.get_run(run.id).status == "completed", "the run moves on")
    closed = service.engine.get_checkpoint(cp.id)
    assert closed.decided_by == "alex" and decision_of(closed)["quorum_override"] == "0 of 2 approved"


class CutOffDemo(DemoProvider):
    """The demo model, except that every answer stopped at its token limit."""

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        """Answer as the demo does, marked cut off."""
        return dataclasses.replace(super().complete(request, progress), finish_reason="length")


def test_a_cut_off_draft_reaches_review_with_a_warning_when_the_workflow_allows_it(
    service: Loopdesk,
) -> None:
    wf = service.get_workflow("marketing-social-post").definition
    save_variant(service, wf.model_copy(update={"allow_cut_off": True}))
    before = service.engine.provider
    service.engine.provider = CutOffDemo()
    try:
        run = service.start_run("marketing-social-post", {"topic": "Cut short"}, "dana")
    finally:
        service.engine.provider = before
        service.install_templates()  # as shipped again for the tests after this one
    assert run.status == "waiting"
    cp = next(c for c in service.inbox("jamie") if c.run_id == run.id)
    at = inbox("jamie", cp.id)
    assert any("Cut off at the token limit" in w.value for w in at.warning)


def test_a_spot_check_is_marked_in_the_list_and_explained_when_opened(service: Loopdesk) -> None:
    rule = AutoApproval(threshold=1.0, window=2, spot_check_every=2, unusual_below=0.0)
    save_variant(service, with_auto_approval(service.get_workflow("marketing-social-post").definition, rule))
    for _ in range(2):  # two reviews approved as is earn it
        service.start_run("marketing-social-post", {"topic": "Earned"}, "dana")
        service.decide(service.inbox("jamie")[0].id, "jamie", Approve())
    auto = service.start_run("marketing-social-post", {"topic": "Approved by Loopdesk"}, "dana")
    wait_until(lambda: service.get_run(auto.id, "dana").status == "completed", "the run moves on")
    spot = service.start_run("marketing-social-post", {"topic": "Picked for a person"}, "dana")
    assert spot.status == "waiting"
    (cp,) = service.inbox("jamie")
    at = inbox("jamie", cp.id)
    assert ":violet-badge[Spot check]" in " ".join(m.value for m in at.markdown)
    assert any("Spot check." in shown(i.value) and "one run in 2" in i.value for i in at.info)


def test_a_filter_never_shows_an_item_it_leaves_out(service: Loopdesk) -> None:
    """The attack: a filtered list kept showing an open item from another workflow beside it."""
    post = service.start_run("marketing-social-post", {"topic": "A post"}, "dana")
    blog_trigger = service.get_workflow("blog-localisation").definition.trigger()
    blog = service.start_run("blog-localisation", example_values(blog_trigger), "dana")
    post_cp = service.store.list_checkpoints(CheckpointQuery(status="pending", run_id=post.id))[0]
    at = inbox("jamie", post_cp.id)
    assert any(h.value == "A post" for h in at.header)
    at.selectbox(key="inbox_workflow").set_value("blog-localisation").run()
    assert not at.exception, at.exception
    headers = [h.value for h in at.header]
    assert "A post" not in headers and blog.title in headers  # the filtered list's first item opens
    at.selectbox(key="inbox_step").set_value("regional_review").run()  # nothing waits there
    assert not [h.value for h in at.header if h.value in ("A post", blog.title)]
    assert any("Nothing waits at these filters; 2 items wait elsewhere" in i.value for i in at.info)


def test_counts_agree_everywhere_for_a_quorum_member_who_approved(service: Loopdesk) -> None:
    wf = service.get_workflow("marketing-social-post").definition
    quorum = {"assignee": "group:marketing", "editable_values": [], "quorum": Quorum(mode="all")}
    save_variant(service, wf.model_copy(update={"nodes": [
        n.model_copy(update=quorum) if n.id == "review" else n for n in wf.nodes
    ]}))  # fmt: skip
    run = service.start_run("marketing-social-post", {"topic": "Needs both"}, "dana")
    (cp,) = service.inbox("jamie")
    service.decide(cp.id, "jamie", Approve())
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["loopdesk_user"] = "jamie"
    at.run()
    assert not at.exception, at.exception
    links = [link.proto.label for link in at.sidebar.get("page_link")]
    assert not [label for label in links if "waiting for you" in label]
    assert any("Nothing waiting for you" in c.value for c in at.sidebar.caption)
    assert service.inbox_state("jamie").count == 0 and service.inbox_state("morgan").count == 1
    assert service.engine.get_run(run.id).status == "waiting"
