"""Signed one-time decision links: opening one decides nothing; using it decides once, as its
reviewer; every way a link can go stale gets a clear page, never a second decision."""

from __future__ import annotations

import pytest

from engine.decisions import Approve, Reassign
from engine.link_decisions import decide_by_link, view_link
from engine.links import LinkSigner
from engine.records import CheckpointRecord, RunRecord, now
from engine.services import Loopdesk
from tests.conftest import load_template


@pytest.fixture
def waiting(app: Loopdesk) -> tuple[RunRecord, CheckpointRecord]:
    app.save_workflow(load_template("marketing_social_post"), "dana")
    run = app.start_run("marketing-social-post", {"topic": "Links"}, "dana")
    return run, app.inbox("jamie")[0]


def test_opening_a_link_decides_nothing_and_using_it_decides_once(
    app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    run, cp = waiting
    token = app.link_signer.make(cp, "jamie", "approve")
    for _ in range(3):  # a mail scanner, a preview, the person
        page = view_link(app, token)
        assert page.ready and page.reviewer == "Jamie Rivera" and page.run is not None
    assert app.engine.get_checkpoint(cp.id).status == "pending"
    done = decide_by_link(app, token, "looks good")
    assert done.state == "done" and done.message == "Approved by Jamie Rivera. Thank you!"
    after = app.engine.get_run(run.id)
    assert after.status == "completed" and after.section == "Published"
    decided = app.engine.get_checkpoint(cp.id)
    assert decided.decided_by == "jamie" and decided.decision and decided.decision["comment"] == "looks good"
    again = decide_by_link(app, token, "twice?")
    assert again.state == "decided" and again.message.startswith("Already approved by Jamie Rivera at ")
    assert " UTC on " in again.message
    assert [s.node_id for s in app.store.list_steps(run.id)].count("review") == 1


def test_a_reject_link_needs_a_reason_and_keeps_the_item_open_until_given(
    app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    run, cp = waiting
    token = app.link_signer.make(cp, "jamie", "reject")
    page = decide_by_link(app, token, "  ")
    assert page.ready and page.error == "reject needs a reason"
    assert app.engine.get_checkpoint(cp.id).status == "pending"
    assert decide_by_link(app, token, "off brand").state == "done"
    assert app.engine.get_run(run.id).status == "rejected"


def test_a_link_to_an_item_someone_else_decided_says_who_and_when(
    app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    _, cp = waiting
    token = app.link_signer.make(cp, "jamie", "request_changes")
    app.decide(cp.id, "alex", Approve(comment="from the inbox"))
    page = decide_by_link(app, token, "please change")
    assert page.state == "decided" and page.message.startswith("Already approved by Alex Admin at ")


def test_tampered_expired_and_foreign_links_are_refused(
    app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    _, cp = waiting
    token = app.link_signer.make(cp, "jamie", "approve")
    payload, _, signature = token.partition(".")
    forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    for bad in (forged, token[:-3], "nonsense", ""):
        page = decide_by_link(app, bad, "")
        assert page.state == "invalid" and "not valid" in page.message
    stale = app.link_signer.make(cp, "jamie", "approve", at=now() - 73 * 3600)
    page = decide_by_link(app, stale, "")
    assert page.state == "expired" and page.message == "This link has expired — open the item in Loopdesk."
    other_key = LinkSigner(b"another installation").make(cp, "jamie", "approve")
    assert decide_by_link(app, other_key, "").state == "invalid"
    assert app.engine.get_checkpoint(cp.id).status == "pending"


def test_a_link_whose_content_changed_or_moved_to_someone_else_is_refused(
    app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    _, cp = waiting
    shown_before = CheckpointRecord(**{**cp.__dict__, "shown": {**cp.shown, "draft": "an older draft"}})
    changed = app.link_signer.make(shown_before, "jamie", "approve")
    page = decide_by_link(app, changed, "")
    assert page.state == "changed" and "changed since the email was sent" in page.message
    token = app.link_signer.make(cp, "jamie", "approve")
    app.decide(cp.id, "alex", Reassign(to="morgan", comment="Jamie is on leave"))
    page = decide_by_link(app, token, "")
    assert page.state == "not_yours" and page.message.startswith("This item is now with Morgan Lee")
    assert app.engine.get_checkpoint(cp.id).status == "pending"


def test_a_link_cannot_make_the_requester_approve_their_own_run(
    app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    _, cp = waiting
    token = app.link_signer.make(cp, "dana", "approve")  # Dana started the run
    assert decide_by_link(app, token, "").state == "not_yours"
    assert app.engine.get_checkpoint(cp.id).status == "pending"


def test_the_link_key_survives_a_restart(
    db_path: str, app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    _, cp = waiting
    token = app.link_signer.make(cp, "jamie", "approve")
    app.close()
    reopened = Loopdesk.open(db_path)
    try:
        assert view_link(reopened, token).ready
    finally:
        reopened.close()


def test_a_link_with_characters_no_link_has_is_simply_invalid(
    app: Loopdesk, waiting: tuple[RunRecord, CheckpointRecord]
) -> None:
    for odd in ("abc.é", "é.é", "abc.\udcff", "a" * 5000 + ".b"):
        assert decide_by_link(app, odd, "").state == "invalid"
