"""Roles and per-workflow access, enforced by the engine and the services (and so by the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import TEMPLATE_AUTHOR, copy_for_user
from engine.cli import main
from engine.decisions import Approve, Reassign, Reject
from engine.directory import Directory
from engine.errors import EngineError, NotAllowedError, NotFoundError
from engine.llm.demo import DemoProvider
from engine.model import Workflow
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.conftest import load_template
from tests.engine.helpers import as_dict, linear_workflow

BASE_REFUND = {"customer_name": "A", "email": "a@example.com", "order_id": "INV-9", "reason": "oops"}


@pytest.fixture
def shipped(app: Loopdesk) -> Loopdesk:
    """The service with the shipped templates installed (their access rules included)."""
    app.install_templates()
    return app


@pytest.fixture
def launch(shipped: Loopdesk) -> Workflow:
    """A team's own workflow made from the marketing template (templates themselves are read-only),
    with the template's access rules: editable by the designers, reviewed by marketing."""
    wf = copy_for_user(
        shipped.get_workflow("marketing-social-post").definition, "launch-posts", "Launch posts"
    )
    shipped.store.save_workflow(wf, TEMPLATE_AUTHOR, "set up for the test")
    return wf


def marketing_run(app: Loopdesk) -> tuple[str, str]:
    """A marketing run started by Dana, waiting for Jamie: (run id, checkpoint id)."""
    run = app.start_run("marketing-social-post", {"topic": "Spring"}, "dana")
    return run.id, app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id


def versions(app: Loopdesk, workflow_id: str) -> int:
    return len(app.versions(workflow_id))


# -- workflows: who may change them --------------------------------------------------------------


def test_only_the_workflows_designers_may_change_it_and_nothing_is_saved_otherwise(
    shipped: Loopdesk, launch: Workflow
) -> None:
    changed = launch.model_copy(update={"description": "Rewritten"})
    with pytest.raises(NotAllowedError, match=r"^Riley Chen is not a designer of Launch posts"):
        shipped.save_workflow(changed, "riley")  # a support agent, no designer role
    with pytest.raises(NotAllowedError, match=r"^Jamie Rivera is not a designer of Launch posts"):
        shipped.save_workflow(changed, "jamie")  # a reviewer
    with pytest.raises(NotAllowedError, match="Riley Chen is not a designer of Launch posts"):
        shipped.import_workflow(changed.to_json(), "riley", source="mine.json")
    assert versions(shipped, "launch-posts") == 1
    assert shipped.get_workflow("launch-posts").definition.description == launch.description

    assert shipped.save_workflow(changed, "dana").version == 2  # in group:designers, its editors
    assert shipped.save_workflow(changed.model_copy(update={"name": "By admin"}), "alex").version == 3


def test_a_designer_who_is_not_among_its_editors_may_not_change_it(shipped: Loopdesk) -> None:
    support = copy_for_user(shipped.get_workflow("support-reply").definition, "replies", "Replies")
    only_support = support.model_copy(
        update={"access": support.access.model_copy(update={"editors": ["sam"]})}
    )
    shipped.store.save_workflow(only_support, TEMPLATE_AUTHOR, "set up for the test")
    with pytest.raises(
        NotAllowedError, match=r"^Dana Kim is not a designer of Replies \(its editors: Sam Okafor\)"
    ):
        shipped.save_workflow(only_support.model_copy(update={"description": "x"}), "dana")
    assert shipped.save_workflow(only_support.model_copy(update={"description": "x"}), "sam").version == 2


def test_shipped_templates_stay_as_shipped_for_everyone(shipped: Loopdesk) -> None:
    wf = shipped.get_workflow("marketing-social-post").definition
    changed = wf.model_copy(update={"description": "Rewritten"})
    for who in ("dana", "alex"):  # a designer among its editors, and an admin
        with pytest.raises(
            NotAllowedError, match="“Marketing social post” is a shipped template and stays as shipped"
        ):
            shipped.save_workflow(changed, who)
    with pytest.raises(NotAllowedError, match="use “Use template” to make your own copy"):
        shipped.import_workflow(changed.to_json(), "dana", source="edited-template.json")
    assert versions(shipped, "marketing-social-post") == 1
    assert "marketing-social-post" not in {w.workflow_id for w in shipped.workflows_for("dana", "edit")}
    # “Try it as is”: a template changed in the database before it was read-only is put back as shipped
    shipped.store.save_workflow(changed, "dana", "an edit from an older release")
    assert shipped.install_templates() == ["marketing-social-post"]
    assert shipped.get_workflow("marketing-social-post").definition == wf
    assert shipped.install_templates() == []


def test_nobody_can_grant_themselves_edit_rights_or_lock_themselves_out(
    shipped: Loopdesk, launch: Workflow
) -> None:
    grab = launch.model_copy(update={"access": launch.access.model_copy(update={"editors": ["jamie"]})})
    with pytest.raises(NotAllowedError, match="Jamie Rivera is not a designer of Launch posts"):
        shipped.save_workflow(grab, "jamie")  # the saved version's editors decide, not the new one's
    with pytest.raises(NotAllowedError, match="saving would remove Dana Kim from the editors"):
        shipped.save_workflow(grab, "dana")
    assert versions(shipped, "launch-posts") == 1


def test_creating_workflows_needs_the_designer_role(shipped: Loopdesk) -> None:
    with pytest.raises(NotAllowedError, match="Jamie Rivera is not a designer, so may not create workflows"):
        shipped.new_workflow("Mine", "jamie")
    with pytest.raises(NotAllowedError, match="Riley Chen is not a designer"):
        shipped.use_template("support-reply", "riley")
    draft = shipped.new_workflow("Launch checklist", "dana")
    assert draft.access.editors == ["dana"]
    mine = shipped.use_template("support-reply", "dana")
    assert shipped.get_workflow(mine.workflow_id).definition.access.editors == ["dana"]
    assert [w.workflow_id for w in shipped.workflows_for("dana", "edit")].count(mine.workflow_id) == 1
    assert mine.workflow_id not in {w.workflow_id for w in shipped.workflows_for("jamie", "edit")}


# -- runs: who may start them --------------------------------------------------------------------


def restricted(app: Loopdesk) -> None:
    """The linear test workflow, startable by the support team only."""
    data = as_dict(linear_workflow())
    data["access"] = {"starters": ["group:support"]}
    app.save_workflow(Workflow.model_validate(data), "dana")


def test_only_the_listed_starters_may_start_a_workflow(app: Loopdesk) -> None:
    restricted(app)
    with pytest.raises(
        NotAllowedError, match=r"Jamie Rivera may not start Test flow \(it is started by Support team"
    ):
        app.start_run("wf", {"topic": "t"}, "jamie")
    assert app.store.list_runs() == []
    assert app.start_run("wf", {"topic": "t"}, "riley").status == "waiting"
    assert [w.workflow_id for w in app.workflows_for("riley", "start")] == ["wf"]
    assert app.workflows_for("jamie", "start") == []


def test_starting_needs_the_requester_role(tmp_path: Path, db_path: str) -> None:
    users = tmp_path / "users.json"
    users.write_text(
        json.dumps(
            {
                "users": [
                    {"name": "dana", "roles": ["designer", "requester"], "groups": ["designers"]},
                    {"name": "jamie", "display_name": "Jamie Rivera", "roles": ["reviewer"]},
                    {"name": "morgan", "roles": ["reviewer"]},
                ],
                "groups": {"designers": "Designers"},
            }
        )
    )
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load(users), workers=1)
    try:
        app.save_workflow(linear_workflow(), "dana")
        with pytest.raises(
            NotAllowedError, match="Jamie Rivera is not a requester, so may not start Test flow"
        ):
            app.start_run("wf", {"topic": "t"}, "jamie")
        assert app.start_run("wf", {"topic": "t"}, "dana").status == "waiting"
    finally:
        app.close()


def test_an_unknown_role_in_the_directory_is_named(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"users": [{"name": "kim", "roles": ["approver"]}]}))
    with pytest.raises(EngineError, match="user `kim` has unknown role\\(s\\) approver"):
        Directory.load(users)


# -- checkpoints: no self-approval, reassign only where the checkpoint allows ---------------------


def test_nobody_approves_a_run_they_started(shipped: Loopdesk) -> None:
    run = shipped.start_run("refund-request", {**BASE_REFUND, "amount": 40}, "riley")
    (cp,) = shipped.store.list_checkpoints(CheckpointQuery(run_id=run.id))
    assert cp.assignee == "group:support" and cp.requester == "riley"
    assert shipped.inbox("riley") == []  # her own request is not hers to decide
    assert [c.id for c in shipped.inbox("sam")] == [cp.id]
    with pytest.raises(NotAllowedError, match="Riley Chen started this run and may not decide its approval"):
        shipped.decide(cp.id, "riley", Approve())
    with pytest.raises(NotAllowedError, match="Riley Chen started this run"):
        shipped.decide(cp.id, "riley", Reassign(to="riley"))
    with pytest.raises(NotAllowedError, match="Riley Chen started this run and may not become its approver"):
        shipped.decide(cp.id, "alex", Reassign(to="riley"))  # not even an admin can make her the approver
    assert shipped.engine.get_checkpoint(cp.id).status == "pending"
    assert not any(a.event.startswith("decision") for a in shipped.store.list_audit(run.id))
    assert shipped.decide(cp.id, "sam", Approve()).status == "completed"


def test_reassign_goes_only_where_the_checkpoint_allows(shipped: Loopdesk) -> None:
    run_id, cp = marketing_run(shipped)
    checkpoint = shipped.engine.get_checkpoint(cp)
    assert shipped.reassign_targets(checkpoint, "jamie") == ["group:marketing", "group:managers"]
    with pytest.raises(
        NotAllowedError,
        match=r"Jamie Rivera may not reassign this checkpoint to Riley Chen: it may go to Marketing "
        r"reviewers \(group\), Managers \(group\)",
    ):
        shipped.decide(cp, "jamie", Reassign(to="riley"))
    # The attack from the report: a support agent makes himself the marketing approver.
    with pytest.raises(NotFoundError, match=f"no checkpoint with id `{cp}`"):
        shipped.decide(cp, "riley", Reassign(to="riley"))
    assert shipped.engine.get_checkpoint(cp).assignee == "jamie"
    shipped.decide(cp, "jamie", Reassign(to="group:managers"))
    assert shipped.engine.get_checkpoint(cp).assignee == "group:managers"
    assert shipped.decide(cp, "alex", Reassign(to="riley")).status == "waiting"  # admins: anyone
    assert shipped.engine.get_checkpoint(cp).assignee == "riley"
    assert shipped.engine.get_run(run_id).status == "waiting"


def test_deciding_needs_the_reviewer_role(shipped: Loopdesk, launch: Workflow) -> None:
    _, cp = marketing_run(shipped)
    with pytest.raises(NotAllowedError, match="Dana Kim started this run"):
        shipped.decide(cp, "dana", Approve())
    data = as_dict(launch)
    next(n for n in data["nodes"] if n["id"] == "review")["assignee"] = "dana"
    with pytest.raises(EngineError, match="Dana Kim is not a reviewer, so cannot approve"):
        shipped.save_workflow(Workflow.model_validate(data), "dana")


# -- cancel and retry ----------------------------------------------------------------------------


def test_cancel_and_retry_belong_to_the_requester_the_designers_and_admins(shipped: Loopdesk) -> None:
    run_id, _ = marketing_run(shipped)
    with pytest.raises(
        NotAllowedError,
        match=r"Jamie Rivera may not cancel this run: only the person who started it \(Dana Kim\), "
        "the designers of Marketing social post and admins may",
    ):
        shipped.cancel(run_id, "jamie")
    with pytest.raises(NotFoundError):
        shipped.cancel(run_id, "riley")  # cannot even see it
    assert shipped.engine.get_run(run_id).status == "waiting"
    assert shipped.cancel(run_id, "dana").status == "cancelled"
    other, _ = marketing_run(shipped)
    assert shipped.cancel(other, "alex").status == "cancelled"
    with pytest.raises(NotAllowedError, match="Jamie Rivera may not retry this run"):
        shipped.retry(other, "jamie")


# -- seeing runs and checkpoints -----------------------------------------------------------------


def test_runs_and_checkpoints_show_only_to_those_who_may_see_them(shipped: Loopdesk) -> None:
    run_id, cp = marketing_run(shipped)
    refund = shipped.start_run("refund-request", {**BASE_REFUND, "amount": 40}, "riley").id
    # Sam takes no part in marketing: the run and its checkpoint do not exist for him.
    for ask in (
        lambda: shipped.run_detail(run_id, "sam"),
        lambda: shipped.get_run(run_id, "sam"),
    ):
        with pytest.raises(NotFoundError, match=f"^no run with id `{run_id}`$"):
            ask()
    with pytest.raises(NotFoundError, match=f"^no checkpoint with id `{cp}`$"):
        shipped.checkpoint(cp, "sam")

    def seen(user: str) -> set[str]:
        return {r.id for r in shipped.list_runs(user)}

    assert seen("sam") == {refund}  # support viewer
    assert seen("riley") == {refund}  # started it
    assert seen("jamie") == {run_id}  # asked to review it
    assert seen("morgan") == {run_id, refund}  # marketing viewer and manager (refund viewers)
    assert seen("dana") == {run_id, refund}  # started one; designs both (group:designers)
    assert seen("alex") == {run_id, refund}
    assert shipped.checkpoint(cp, "jamie").id == cp

    # Having acted on it keeps it visible: Jamie hands it to the managers and can still look.
    shipped.decide(cp, "jamie", Reassign(to="group:managers"))
    assert shipped.run_detail(run_id, "jamie").run.id == run_id
    assert run_id in seen("jamie")


def test_insights_cover_only_the_workflows_one_may_see(shipped: Loopdesk) -> None:
    marketing_run(shipped)
    shipped.start_run("refund-request", {**BASE_REFUND, "amount": 40}, "riley")
    assert {s.workflow_id for s in shipped.workflow_stats("alex")} == {
        "marketing-social-post",
        "refund-request",
    }
    assert {s.workflow_id for s in shipped.workflow_stats("riley")} == {"refund-request"}
    assert {s.workflow_id for s in shipped.checkpoint_stats("riley")} == {"refund-request"}
    assert {s.workflow_id for s in shipped.checkpoint_stats("jamie")} == {"marketing-social-post"}


def test_board_lists_only_visible_runs(shipped: Loopdesk) -> None:
    run_id, _ = marketing_run(shipped)
    board = shipped.board("marketing-social-post", "sam")
    assert all(run_id not in {r.id for r in cards} for cards in board.columns.values())
    assert board.total == 0
    board = shipped.board("marketing-social-post", "morgan")
    assert any(run_id in {r.id for r in cards} for cards in board.columns.values())
    assert board.total == 1


def test_demo_data_needs_a_designer(shipped: Loopdesk) -> None:
    from engine.demo_data import load_demo_data

    with pytest.raises(
        NotAllowedError, match="Riley Chen is not a designer or admin, so may not load demo data"
    ):
        load_demo_data(shipped, "riley")
    assert shipped.store.list_runs() == []


# -- the same rules from the command line ----------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any, str]:
    """Run `python -m engine ARGS --json` in-process: (exit code, JSON document, stderr)."""
    code = main([*args, "--json"])
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.strip() else None, out.err


def test_the_cli_applies_the_same_rules_with_user(db_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    template = str(Path(__file__).resolve().parents[2] / "templates" / "marketing_social_post.json")
    code, run, _ = cli(capsys, "run", template, "--db", db_path, "--input", "topic=CLI")  # the operator
    assert code == 0 and run["status"] == "waiting"
    rid, cp = run["run_id"], run["checkpoint_id"]

    code, doc, err = cli(capsys, "show", rid, "--db", db_path, "--user", "sam")
    assert code == 1 and doc["error"] == f"no run with id `{rid}`" and "error: no run" in err
    code, doc, _ = cli(capsys, "cancel", rid, "--db", db_path, "--user", "jamie")
    assert code == 1 and doc["error"].startswith("Jamie Rivera may not cancel this run")
    code, doc, _ = cli(capsys, "decide", cp, "--db", db_path, "--user", "jamie", "--reassign-to", "riley")
    assert code == 1 and doc["error"].startswith(
        "Jamie Rivera may not reassign this checkpoint to Riley Chen"
    )
    code, doc, _ = cli(capsys, "run", template, "--db", db_path, "--user", "riley", "--input", "topic=x")
    assert (
        code == 1
        and doc["error"]
        == "Riley Chen is not a designer of Marketing social post (its editors: Workflow designers (group))"
    )
    code, doc, _ = cli(capsys, "demo-data", "--db", db_path, "--user", "jamie")
    assert code == 1 and "Jamie Rivera is not a designer or admin" in doc["error"]
    code, doc, _ = cli(capsys, "show", rid, "--db", db_path, "--user", "ghost")
    assert code == 1 and doc["error"].startswith("unknown user `ghost`")

    # nothing of that changed anything; the reviewer and the operator go on as before
    code, doc, _ = cli(
        capsys, "decide", cp, "--db", db_path, "--user", "jamie", "--reject", "--comment", "No"
    )
    assert code == 0 and doc["status"] == "rejected"
    code, doc, _ = cli(capsys, "show", rid, "--db", db_path)
    assert code == 0 and [a["event"] for a in doc["audit"]].count("decision_reject") == 1
    assert not any(a["event"] in ("cancelled", "reassigned") for a in doc["audit"])


def test_rejecting_with_a_reason_is_a_decision_too(shipped: Loopdesk) -> None:
    _, cp = marketing_run(shipped)
    with pytest.raises(NotFoundError):
        shipped.decide(cp, "riley", Reject(comment="no"))
    assert shipped.decide(cp, "jamie", Reject(comment="Off brand")).status == "rejected"


def test_templates_load_with_their_access_rules() -> None:
    wf = load_template("refund_request")
    assert wf.access.viewers == ["group:support", "group:managers"]
    assert wf.access.editors == ["group:designers", "sam"]
