"""Learning from reviewers (issue 16, items 3 and 4): what reviewers did with an AI step's drafts,
"Improve this prompt" (the offline demo's rule-built suggestion and a real model's, through the real
client against a local fake server) and "Test against past runs" (a sandbox replay)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.decisions import Approve, Reject, RequestChanges
from engine.errors import InvalidStateError, NotAllowedError, StepError
from engine.model import AIStepNode, Workflow
from engine.prompt_advice import DEMO_LABEL, demo_suggestion, placeholder_warnings
from engine.prompt_feedback import ReviewedDraft, reviewed_drafts, reviewed_steps
from engine.records import CheckpointQuery
from engine.replay import ReplayCase, StepReplay, changed_ai_steps
from engine.services import Loopdesk
from tests.engine.helpers import node_as
from tests.engine.test_ai_servers import open_app
from tests.engine.test_cli import cli
from tests.engine.test_learning import decide, waiting, with_instruction
from tests.fakes.openai_server import FakeOpenAIServer, answer

OWN = "marketing-social-post-dana"
POST = "Our Spring sale starts today. Tell us in the comments."
"""What the fake server drafts (ten words)."""


def seed(app: Loopdesk) -> dict[str, str]:
    """Five reviewed runs of dana's copy of the marketing template, oldest first: approved as is;
    approved with “Shop now” added; sent back (“Shorter, please”), then approved with “Shop now”
    added; rejected (“Off brand”); approved with “Tell us in the comments.” removed.
    Returns the run ids by name."""
    wid = app.use_template("marketing-social-post", "dana").workflow_id
    runs = {}
    cp = waiting(app, wid)
    decide(app, cp, Approve())
    runs["as_is"] = cp.run_id
    cp = waiting(app, wid)
    decide(app, cp, Approve(edits={"draft": f"{cp.shown['draft']} Shop now"}))
    runs["shop_now"] = cp.run_id
    cp = waiting(app, wid)
    decide(app, cp, RequestChanges(comment="Shorter, please"))
    again = waiting(app, wid, cp.run_id)
    decide(app, again, Approve(edits={"draft": f"{again.shown['draft']} Shop now"}))
    runs["sent_back"] = cp.run_id
    cp = waiting(app, wid)
    decide(app, cp, Reject(comment="Off brand"))
    runs["rejected"] = cp.run_id
    cp = waiting(app, wid)
    trimmed = str(cp.shown["draft"]).replace(" Tell us in the comments.", "")
    assert trimmed != cp.shown["draft"], "the demo's post asks for comments"
    decide(app, cp, Approve(edits={"draft": trimmed}))
    runs["trimmed"] = cp.run_id
    return runs


@pytest.fixture
def seeded(app: Loopdesk) -> tuple[Loopdesk, dict[str, str]]:
    """The demo-model service with the five reviewed runs."""
    return app, seed(app)


def own(app: Loopdesk) -> Workflow:
    """The newest saved version of dana's copy."""
    return app.get_workflow(OWN).definition


def test_reviewed_drafts_pair_each_first_draft_with_what_was_finally_approved(
    seeded: tuple[Loopdesk, dict[str, str]],
) -> None:
    app, runs = seeded
    found = reviewed_drafts(app.store, OWN, "draft")
    assert [d.run_id for d in found] == [
        runs[k] for k in ("trimmed", "rejected", "sent_back", "shop_now", "as_is")
    ]
    by_run = {d.run_id: d for d in found}
    as_is = by_run[runs["as_is"]]
    assert as_is.approved_as_is and as_is.approved == as_is.draft and as_is.notes == ()
    sent_back = by_run[runs["sent_back"]]
    (checkpoints) = app.store.list_checkpoints(CheckpointQuery(status=None, run_id=runs["sent_back"]))
    first, second = (cp.shown["draft"] for cp in checkpoints)
    assert sent_back.draft == first  # the draft the old prompt wrote, before any send-back
    assert sent_back.approved == f"{second} Shop now"
    assert sent_back.edits == ((second, f"{second} Shop now"),)
    assert sent_back.notes == (("request_changes", "Shorter, please"),)
    assert sent_back.values["feedback"] == "" and sent_back.values["draft"] == ""
    rejected = by_run[runs["rejected"]]
    assert rejected.approved is None and rejected.notes == (("reject", "Off brand"),)
    # only runs with an approved text can be compared with; `last` counts the newest runs
    approved = reviewed_drafts(app.store, OWN, "draft", approved_only=True)
    assert runs["rejected"] not in {d.run_id for d in approved} and len(approved) == 4
    assert [d.run_id for d in reviewed_drafts(app.store, OWN, "draft", last=2)] == [
        runs["trimmed"],
        runs["rejected"],
    ]
    assert reviewed_drafts(app.store, OWN, "translate") == []  # no reviewer saw a translation


def test_the_demo_suggestion_is_built_from_the_most_common_edits_and_notes(
    seeded: tuple[Loopdesk, dict[str, str]],
) -> None:
    app, _ = seeded
    wf = own(app)
    suggestion = app.suggest_instruction(wf, "draft", "dana")
    assert suggestion.demo and suggestion.rationale[0] == DEMO_LABEL
    assert suggestion.learned_from == 4  # three edited, one rejected (one sent back, then edited)
    old = wf.node("draft").instruction  # type: ignore[union-attr]
    assert suggestion.old == old and suggestion.new.startswith(old.rstrip())
    guidance = suggestion.new[len(old.rstrip()) :].strip().splitlines()
    # each note was given once: one reviewer's wish, not a rule; named in the rationale, not in the prompt
    assert guidance == ["Reviewers' guidance:", "- Include “Shop now”."]
    assert "Reviewers added “Shop now” to 2 of 3 edited drafts." in suggestion.rationale
    assert "Notes not given often enough to become a rule yet: “Off brand”, “Shorter, please”." in (
        suggestion.rationale
    )
    assert not any("Tell us" in line for line in suggestion.rationale)  # one draft of three: no pattern
    assert suggestion.warnings == [] and suggestion.meta == {}
    assert app.suggest_instruction(wf, "draft", "dana") == suggestion  # deterministic
    assert suggestion.as_dict()["diff"].endswith("- Include “Shop now”.+}")
    diff = suggestion.as_dict()["diff"]
    assert "[-" not in diff and diff.index("{+") < diff.index("Reviewers' guidance:")  # only added


def test_no_suggestion_without_edits_or_notes_and_none_for_someone_who_may_not_edit(app: Loopdesk) -> None:
    wid = app.use_template("marketing-social-post", "dana").workflow_id
    decide(app, waiting(app, wid), Approve())
    wf = own(app)
    with pytest.raises(InvalidStateError, match=r"nothing to learn from yet.*last 1 reviewed runs"):
        app.suggest_instruction(wf, "draft", "dana")
    with pytest.raises(InvalidStateError, match="only AI steps"):
        app.suggest_instruction(wf, "review", "dana")
    with pytest.raises(NotAllowedError):
        app.suggest_instruction(wf, "draft", "jamie")  # a reviewer of it, not an editor
    with pytest.raises(InvalidStateError, match="between 1 and 200"):
        app.suggest_instruction(wf, "draft", "dana", last=0)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeOpenAIServer, Loopdesk, dict[str, str]]]:
    """A service whose AI steps go to a local fake OpenAI server, with the five reviewed runs."""
    with FakeOpenAIServer(default_content=POST) as server:
        app = open_app(tmp_path / "served.duckdb", server)
        try:
            yield server, app, seed(app)
        finally:
            app.close()


def test_the_model_is_asked_with_the_drafts_edits_as_diffs_and_notes(
    served: tuple[FakeOpenAIServer, Loopdesk, dict[str, str]],
) -> None:
    server, app, _ = served
    revised = "Write a {{ channel }} post about {{ topic }} for {{ audience }}. End with “Shop now”."
    reply = {
        "instruction": revised,
        "rationale": "- adds the call to action reviewers kept adding\n- shorter",
    }
    server.plan(answer(json.dumps(reply), usage=(900, 60)))
    before = len(server.requests)
    wf = own(app)
    suggestion = app.suggest_instruction(wf, "draft", "dana")
    (request,) = server.requests[before:]
    system, user = (m["content"] for m in request.json["messages"])
    assert "revised instruction" in system and request.json["response_format"]["type"] == "json_schema"
    assert "Of the last 5 reviewed drafts, 1 were approved as they were." in user
    assert user.count("Reviewer's edit") == 3 and "{+Shop now+}" in user
    assert "[-Tell us in the comments.-]" in user
    assert "Sent back with the note: Shorter, please" in user and "Rejected with the note: Off brand" in user
    assert wf.node("draft").instruction in user  # type: ignore[union-attr]
    assert not suggestion.demo and suggestion.new == revised
    assert suggestion.rationale == ["adds the call to action reviewers kept adding", "shorter"]
    assert suggestion.meta["prompt_tokens"] == 900 and suggestion.meta["completion_tokens"] == 60
    # the revision dropped {{ key_message }} and the feedback block: the designer is told
    assert suggestion.warnings == [
        "the suggestion no longer uses {{ feedback }}",
        "the suggestion no longer uses {{ key_message }}",
    ]
    server.plan(answer("I think the prompt is fine."))
    with pytest.raises(StepError, match="could not be read: The AI's answer is not valid JSON"):
        app.suggest_instruction(wf, "draft", "dana")


def test_placeholder_warnings_name_a_broken_template() -> None:
    assert placeholder_warnings("Hi {{ a }}", "Hi {{ a }} and {{ b }}") == []
    (broken,) = placeholder_warnings("Hi {{ a }}", "Hi {{ a")
    assert broken.startswith("the suggested instruction cannot be rendered: ")


def sandbox_state(app: Loopdesk) -> tuple[object, ...]:
    """Everything a replay must leave as it was: runs, steps, checkpoints, audit, outbox, counters."""
    runs = app.store.list_runs()
    return (
        [(r.id, r.status, r.section, r.updated_at) for r in runs],
        [len(app.store.list_steps(r.id)) for r in runs],
        [(c.id, c.status) for c in app.store.list_checkpoints(CheckpointQuery(status=None))],
        len(app.store.list_audit(limit=10_000)),
        [len(app.store.list_events(r.id)) for r in runs],
        app.store.counters(),
    )


def test_a_replay_compares_new_drafts_with_what_reviewers_approved_and_stores_nothing_but_its_cost(
    seeded: tuple[Loopdesk, dict[str, str]],
) -> None:
    app, runs = seeded
    wf = own(app)
    old = wf.node("draft").instruction  # type: ignore[union-attr]
    improved = with_instruction(wf, f"{old}\n\nReviewers' guidance:\n- Include “Shop now”.")
    assert changed_ai_steps(wf, improved) == ["draft"] and changed_ai_steps(wf, wf) == []
    plan = app.replay_plan(improved, "dana")
    assert list(plan.cases) == ["draft"] and len(plan.cases["draft"]) == 4  # the approved runs
    assert plan.estimate.calls == 4 and plan.estimate.demo and plan.estimate.cost_usd == 0.0
    assert plan.estimate.prompt_tokens > 0 and plan.estimate.completion_tokens > 0
    before = sandbox_state(app)
    done = app.replay(improved, "dana")
    assert sandbox_state(app) == before
    (step,) = done.steps
    by_run = {c.run_id: c for c in step.cases}
    # the demo follows the guidance line: “Shop now” is added to every new draft
    shop = by_run[runs["shop_now"]]
    assert shop.verdict == "closer" and shop.new_similarity == 1.0 and shop.new_edit_size == 0.0
    assert shop.old_similarity < 1.0 and shop.old_edit_size > 0
    assert by_run[runs["sent_back"]].verdict == "closer"
    as_is = by_run[runs["as_is"]]
    assert as_is.old_similarity == 1.0 and as_is.verdict == "further"
    assert by_run[runs["trimmed"]].verdict == "further"  # its reviewer cut words; none wanted “Shop now”
    totals = step.totals()
    assert totals["runs"] == 4 and totals["closer"] == 2 and totals["further"] == 2 and totals["failed"] == 0
    summary = step.summary()
    assert summary.startswith(f"{step.verdict()}: 2 of 4 closer to what reviewers approved, edit size ")
    assert done.demo and done.cost_usd == 0.0 and done.prompt_tokens > 0
    (logged,) = app.replay_log(OWN, "dana")
    assert logged["by"] == "dana" and logged["against_version"] == 1
    assert logged["steps"]["draft"] == totals and logged["usage"] == done.usage()


def test_a_replay_refuses_when_nothing_changed_or_nobody_approved(app: Loopdesk) -> None:
    wid = app.use_template("marketing-social-post", "dana").workflow_id
    wf = own(app)
    with pytest.raises(InvalidStateError, match="no AI step's prompt differs from version 1"):
        app.replay(wf, "dana")
    decide(app, waiting(app, wid), Reject(comment="Off brand"))
    with pytest.raises(InvalidStateError, match="no approved runs of the changed steps"):
        app.replay(with_instruction(wf, "Write a post about {{ topic }}."), "dana")
    assert app.replay_log(wid, "dana") == []


def test_a_replay_through_the_real_client_reports_similarity_and_cost_per_run(
    served: tuple[FakeOpenAIServer, Loopdesk, dict[str, str]],
) -> None:
    server, app, runs = served
    wf = own(app)
    server.default_content = f"{POST} Shop now"  # every new draft: the old one with “Shop now”
    before = sandbox_state(app)
    done = app.replay(with_instruction(wf, wf.node("draft").instruction + " Add “Shop now”."), "dana")  # type: ignore[union-attr]
    assert sandbox_state(app) == before
    by_run = {c.run_id: c for c in done.steps[0].cases}
    assert by_run[runs["shop_now"]].verdict == "closer" and by_run[runs["shop_now"]].new_similarity == 1.0
    assert by_run[runs["as_is"]].verdict == "further"
    assert by_run[runs["as_is"]].new_similarity == pytest.approx(2 * 10 / (10 + 12), abs=1e-4)
    assert not done.demo and done.prompt_tokens > 0 and done.completion_tokens == 4 * 12
    assert all(c.meta["model"] for c in by_run.values())


def test_replay_from_the_command_line(
    seeded: tuple[Loopdesk, dict[str, str]], db_path: str, tmp_path: Path
) -> None:
    app, runs = seeded
    wf = own(app)
    improved = with_instruction(wf, app.suggest_instruction(wf, "draft", "dana").new)
    file = tmp_path / "improved.json"
    file.write_text(improved.to_json())
    app.close()  # the CLI opens the database itself
    done = cli("replay", str(file), "--against", OWN, "--last", "2", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    step = doc["steps"]["draft"]
    assert [r["run_id"] for r in step["runs"]] == [runs["trimmed"], runs["sent_back"]]
    assert [r["verdict"] for r in step["runs"]] == ["further", "closer"]
    assert step["totals"]["closer"] == 1 and doc["usage"]["demo"] is True and doc["estimate"]["calls"] == 2
    human = cli("replay", str(file))
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].startswith("replaying 4 drafts: about ") and lines[0].endswith(
        "free (offline demo model)"
    )
    assert lines[1].startswith("AI step draft: ") and ": 2 of 4 closer to what reviewers approved" in lines[1]
    assert f"  {runs['shop_now']} “Spring sale”: closer · similarity to approved 0.97 → 1.00" in human.stdout
    unchanged = tmp_path / "same.json"
    unchanged.write_text(wf.to_json())
    refused = cli("replay", str(unchanged))
    assert refused.returncode == 1 and "no AI step's prompt differs" in refused.stderr
    assert cli("replay", str(tmp_path / "missing.json")).returncode == 1
    assert cli("replay", str(file), "--last", "0").returncode == 2  # argparse: not a positive number


def reviewed(before: str, after: str | None = None, note: str = "") -> ReviewedDraft:
    """A reviewed draft: edited to `after` (approved as is when None), or sent back with `note`."""
    edits = ((before, after),) if after is not None else ()
    notes = (("request_changes", note),) if note else ()
    return ReviewedDraft("r", "t", 1, {}, before, after or before, edits, notes, 0.0)


def test_the_demo_names_phrases_half_the_edited_drafts_share_and_the_commonest_notes() -> None:
    node = AIStepNode(id="draft", instruction="Write about {{ topic }}.", output_name="post")
    drafts = [
        reviewed("Hi all. Big news today!", "Big news today! Shop now"),
        reviewed("Hi all. Sale starts.", "Sale starts. Shop now"),
        reviewed("Hi all. New shoes.", "New shoes, in red."),
        reviewed("Hi all. Fine as it is."),
        reviewed("Too long", note="shorter please"),
        reviewed("Still long", note="Shorter, please!"),
        reviewed("Dull", note="Add a joke"),
    ]
    found = demo_suggestion(node, drafts)
    assert found.new.splitlines()[2:] == [
        "Reviewers' guidance:",
        "- Include “Shop now”.",
        "- Leave out “Hi all”.",
        "- Heed this reviewer note: “shorter please”.",  # asked twice (case and stops aside)
    ]  # "Add a joke" was asked once: not a rule that every later draft must follow
    assert found.rationale[1:] == [
        "Reviewers added “Shop now” to 2 of 3 edited drafts.",
        "Reviewers removed “Hi all” from 3 of 3 edited drafts.",
        "Reviewers asked “shorter please” twice when sending drafts back or rejecting them.",
        "Notes not given often enough to become a rule yet: “Add a joke”.",
    ]
    assert found.learned_from == 6
    scattered = [reviewed("One two three", "One two four"), reviewed("Five six", "Seven six")]
    with pytest.raises(InvalidStateError, match="no common pattern yet"):
        demo_suggestion(node, scattered)


def test_a_changed_step_no_reviewer_sees_is_listed_but_not_replayed(
    seeded: tuple[Loopdesk, dict[str, str]],
) -> None:
    app, _ = seeded
    wf = own(app)
    assert reviewed_steps(wf) == {"draft"}  # the translation is made after the review
    both = with_instruction(wf, node_as(wf, "draft", AIStepNode).instruction + " Be brief.")
    nodes = [
        n.model_copy(update={"instruction": n.instruction + " Keep it formal."})
        if isinstance(n, AIStepNode) and n.id == "translate"
        else n
        for n in both.nodes
    ]
    both = both.model_copy(update={"nodes": nodes})
    plan = app.replay_plan(both, "dana")
    assert plan.cases["translate"] == [] and len(plan.cases["draft"]) == 4
    assert plan.estimate.calls == 4
    done = app.replay(both, "dana", plan=plan)
    assert [s.node_id for s in done.steps] == ["draft"]
    with pytest.raises(NotAllowedError):
        app.replay(both, "jamie", plan=plan)  # a plan does not lend its maker's rights


def test_a_replay_says_in_words_whether_the_new_prompt_is_better_or_worse() -> None:
    approved = "Spring sale: every shoe is 20% off until Friday. Shop now"

    def case(old: str, new: str) -> ReplayCase:
        return ReplayCase("r", "t", old, approved, new)

    worse = StepReplay(
        "draft", [case(approved, "Hello there everyone, a long new text about nothing at all")] * 2
    )
    assert worse.verdict() == "worse"
    assert worse.summary().startswith("worse: 0 of 2 closer to what reviewers approved, edit size 0.00 → ")
    better = StepReplay("draft", [case("Spring sale: shoes are cheap", approved)] * 3)
    assert better.verdict() == "better" and better.summary().startswith("better: 3 of 3 closer")
    same = StepReplay("draft", [case(approved, approved)])
    assert same.verdict() == "about the same"
