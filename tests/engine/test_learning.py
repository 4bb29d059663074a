"""What reviewers' decisions say of the AI (issue 16, first part): rates, edit sizes and time in
review per workflow, per AI step and prompt version, and per reviewer, from a history made through
the real engine on the demo model."""

from __future__ import annotations

import json

import pytest

from engine import learning
from engine.decisions import Approve, Reject, RequestChanges
from engine.learning import (
    WEEK,
    Review,
    drifts,
    percentile,
    prompt_versions,
    two_proportion_p,
    week_of,
    weekly,
)
from engine.model import AIStepNode, Workflow
from engine.records import CheckpointQuery, CheckpointRecord
from engine.services import Loopdesk
from tests.engine.test_cli import cli

INPUTS = {"topic": "Spring sale", "channel": "LinkedIn", "audience": "Shoppers", "target_language": "German"}


def waiting(app: Loopdesk, workflow_id: str, run_id: str | None = None) -> CheckpointRecord:
    """The review waiting in a new run (or in run `run_id`)."""
    if run_id is None:
        run_id = app.start_run(workflow_id, INPUTS, "dana").id
    (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run_id))
    return cp


def decide(app: Loopdesk, cp: CheckpointRecord, decision: Approve | Reject | RequestChanges) -> None:
    app.decide(cp.id, app.permissions.deciders(cp)[0], decision)


def with_instruction(wf: Workflow, instruction: str) -> Workflow:
    nodes = [
        n.model_copy(update={"instruction": instruction})
        if isinstance(n, AIStepNode) and n.id == "draft"
        else n
        for n in wf.nodes
    ]
    return wf.model_copy(update={"nodes": nodes})


OWN = "marketing-social-post-dana"


@pytest.fixture
def own(app: Loopdesk) -> Workflow:
    """Dana's own copy of the marketing template (templates stay as shipped), version 1."""
    return app.use_template("marketing-social-post", "dana").definition


@pytest.fixture
def history(app: Loopdesk, own: Workflow) -> tuple[Loopdesk, float]:
    """Version 1: approved as is; approved with two words added; sent back, then approved as is;
    rejected. Version 2 (a new draft prompt): approved as is. Version 3 (renamed only): rejected.
    Returns the service and the edit size of the edited approval."""
    wid = own.id
    decide(app, waiting(app, wid), Approve())
    edited = waiting(app, wid)
    draft = str(edited.shown["draft"])
    decide(app, edited, Approve(edits={"draft": f"{draft} Shop now"}))
    sent_back = waiting(app, wid)
    decide(app, sent_back, RequestChanges(comment="Shorter, please"))
    decide(app, waiting(app, wid, sent_back.run_id), Approve())
    decide(app, waiting(app, wid), Reject(comment="Off brand"))
    app.save_workflow(with_instruction(own, "Write a short post about {{ topic }}."), "dana")
    decide(app, waiting(app, wid), Approve())
    renamed = app.get_workflow(wid).definition.model_copy(update={"name": "Social posts"})
    app.save_workflow(renamed, "dana")
    decide(app, waiting(app, wid), Reject(comment="Not now"))
    return app, round(2 / len(draft.split()), 4)


def test_rates_edit_sizes_and_review_times_follow_the_decisions(history: tuple[Loopdesk, float]) -> None:
    app, size = history
    (report,) = app.review_report("dana", OWN)
    overall = report["overall"]
    assert (overall["reviews"], overall["runs"]) == (7, 6)
    assert overall["approved_as_is_rate"] == pytest.approx(3 / 7)
    assert overall["approved_with_edits_rate"] == pytest.approx(1 / 7)
    assert overall["changes_requested_rate"] == pytest.approx(1 / 7)
    assert overall["rejected_rate"] == pytest.approx(2 / 7)
    assert overall["mean_edit_size"] == pytest.approx(size / 4)  # over the four approvals
    assert 0 <= overall["review_seconds_p50"] <= overall["review_seconds_p90"]
    assert overall["overdue"] == 0  # due in 48 h
    assert list(report["reviewers"]) == ["jamie"] and report["reviewers"]["jamie"]["reviews"] == 7


def test_tokens_and_cost_per_approved_task_count_every_draft(history: tuple[Loopdesk, float]) -> None:
    """All AI calls of the workflow's runs (rejected and sent-back drafts included) over the four
    tasks that finished approved."""
    app, _ = history
    runs = app.store.list_runs(workflow_id=OWN, limit=100)
    assert sorted(r.status for r in runs) == ["completed"] * 4 + ["rejected"] * 2
    tokens = sum(
        int(s.meta.get("prompt_tokens") or 0) + int(s.meta.get("completion_tokens") or 0)
        for r in runs
        for s in app.store.list_steps(r.id)
    )
    assert tokens > 0
    (report,) = app.review_report("dana", OWN)
    overall = report["overall"]
    assert overall["approved_tasks"] == 4
    assert overall["tokens_per_approved_task"] == pytest.approx(tokens / 4)
    assert overall["cost_per_approved_task"] == 0.0  # the demo model costs nothing


def test_each_prompt_version_of_an_ai_step_is_counted_apart(history: tuple[Loopdesk, float]) -> None:
    app, size = history
    (report,) = app.review_report("dana", OWN)
    # only the draft is shown at the review; the translation is made after it
    assert list(report["ai_steps"]) == ["draft"]
    by_version = report["ai_steps"]["draft"]
    assert list(by_version) == ["1", "2"]  # version 3 left the prompt alone: its run counts with 2
    first, second = by_version["1"], by_version["2"]
    assert (first["reviews"], first["runs"]) == (5, 4)
    assert first["approved_as_is_rate"] == pytest.approx(2 / 5)
    assert first["mean_edit_size"] == pytest.approx(size / 3)
    assert (second["reviews"], second["approved_as_is_rate"], second["rejected_rate"]) == (2, 0.5, 0.5)
    assert second["mean_edit_size"] == 0.0


def test_each_prompt_version_has_its_own_tokens_per_approved_task(history: tuple[Loopdesk, float]) -> None:
    """The draft step's calls (revisions included) in the runs of a prompt version, over the drafts
    approved with it; read here from every step record, there from one aggregate query."""
    app, _ = history
    calls: dict[int, list[int]] = {1: [], 2: []}
    for run in app.store.list_runs(workflow_id=OWN, limit=100):
        for s in app.store.list_steps(run.id):
            if s.node_id == "draft":
                tokens = int(s.meta.get("prompt_tokens") or 0) + int(s.meta.get("completion_tokens") or 0)
                calls[min(run.version, 2)].append(tokens)  # version 3 kept version 2's prompt
    assert [len(c) for c in calls.values()] == [5, 2]  # one draft of version 1 was sent back and redone
    (report,) = app.review_report("dana", OWN)
    first, second = report["ai_steps"]["draft"]["1"], report["ai_steps"]["draft"]["2"]
    assert first["ai_calls"] == 5 and second["ai_calls"] == 2
    assert first["tokens_per_approved_task"] == pytest.approx(sum(calls[1]) / 3)  # three approved
    assert second["tokens_per_approved_task"] == pytest.approx(sum(calls[2]) / 1)
    assert first["cost_per_approved_task"] == 0.0


def test_the_figures_read_only_the_newest_decisions(
    history: tuple[Loopdesk, float], monkeypatch: pytest.MonkeyPatch, db_path: str
) -> None:
    """However long the history, the report reads the newest MAX_DECISIONS decisions and says so."""
    app, _ = history
    (whole,) = app.review_report("dana", OWN)
    assert whole["window"] == {"decisions": 7, "complete": True, "since": None}
    monkeypatch.setattr(learning, "MAX_DECISIONS", 3)
    (recent,) = app.review_report("dana", OWN)
    newest = app.store.list_checkpoints(
        CheckpointQuery(status="decided", workflow_id=OWN, newest_first=True), limit=3
    )
    assert recent["window"] == {"decisions": 3, "complete": False, "since": newest[-1].created_at}
    assert recent["overall"]["reviews"] == 3 and recent["overall"]["runs"] == 3
    # the newest three: version 2's approval, version 3's rejection, and the one before them
    assert recent["ai_steps"]["draft"]["2"]["reviews"] == 2
    app.close()
    human = cli("insights", "--db", db_path, "--workflow", OWN)
    assert "  (from the newest 3 decisions, since " in human.stdout


def test_prompt_versions_follow_only_the_prompt(own: Workflow, app: Loopdesk) -> None:
    app.save_workflow(own.model_copy(update={"name": "Renamed"}), "dana")
    app.save_workflow(with_instruction(own, "New words"), "dana")
    versions = prompt_versions(app.store.list_versions(own.id))
    assert [versions[("draft", v)] for v in (1, 2, 3)] == [1, 1, 3]
    assert [versions[("translate", v)] for v in (1, 2, 3)] == [1, 1, 1]


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0], 90) == 10.0
    assert percentile([40.0, 10.0, 20.0, 30.0], 50) == 25.0
    assert percentile([0.0, 100.0], 90) == pytest.approx(90.0)


def test_the_cli_prints_the_same_figures(history: tuple[Loopdesk, float], db_path: str) -> None:
    app, _ = history
    expected = app.review_report("dana", OWN)
    app.close()  # the CLI opens the database itself
    done = cli("insights", "--db", db_path, "--workflow", OWN, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(json.dumps(expected))
    human = cli("insights", "--db", db_path, "--workflow", OWN)
    assert f"{OWN}: 7 reviews of 6 runs · as is 43% · with edits 14%" in human.stdout
    assert "AI step draft, prompt of version 2: 2 reviews of 2 runs" in human.stdout
    assert " · per approved task " in human.stdout and " tokens, $0.0000" in human.stdout
    assert (
        "AI step draft: approved as is 40% of 5 with the prompt of version 1, 50% of 2 with version 2 "
        "(not significant yet, p = 0.81)"
    ) in human.stdout
    unknown = cli("insights", "--db", db_path, "--workflow", "no-such-flow")
    assert unknown.returncode != 0 and "no-such-flow" in unknown.stderr


def review(outcome: str, seconds: float, words: int, decided_at: float = 0.0, edited: bool = False) -> Review:
    """A review of the draft step's prompt of version 1, for the signal tests."""
    return Review(
        run_id=f"run-{decided_at}-{seconds}", workflow_id="w", version=1, checkpoint_node="review",
        reviewer="jamie", outcome=outcome, edited=edited, edit_size=0.0 if outcome == "approved" else None,
        seconds=seconds, overdue=False, drafts=(("draft", 1),), words=words, decided_at=decided_at,
    )  # fmt: skip


def test_an_approval_faster_than_its_draft_can_be_read_is_flagged() -> None:
    assert review("approved", seconds=10, words=100).rubber_stamp()  # 100 words need 20 s at 5 a second
    assert not review("approved", seconds=25, words=100).rubber_stamp()
    assert not review("approved", seconds=10, words=100).rubber_stamp(words_per_second=20)
    assert not review("rejected", seconds=1, words=100).rubber_stamp()  # only approvals are stamps
    assert not review("approved", seconds=0, words=0).rubber_stamp()  # nothing to read


def test_a_step_whose_drafts_pass_less_often_this_week_is_flagged() -> None:
    now, day = 100 * WEEK, 86400.0
    earlier = [review("approved", 60, 50, now - 2 * WEEK - i * day) for i in range(4)]
    earlier.append(review("rejected", 60, 50, now - 3 * WEEK))
    recent = [
        review("approved", 60, 50, now - day),
        *(review("rejected", 60, 50, now - i * day) for i in (2, 3)),
    ]
    (drift,) = drifts([*earlier, *recent], now)
    assert drift.node_id == "draft" and drift.earlier_rate == 0.8
    assert drift.recent_rate == pytest.approx(1 / 3)
    assert (drift.recent_reviews, drift.earlier_reviews) == (3, 5)
    assert drifts([*earlier, *recent], now, margin=0.5) == []  # fell by 0.47 only
    assert drifts([*earlier, *recent[:2]], now) == []  # two reviews this week say nothing yet
    older = [review("approved", 60, 50, now - 6 * WEEK) for _ in range(5)]  # beyond the four weeks
    assert drifts([*older, *recent], now) == []


def test_instant_approvals_of_the_history_are_flagged_as_rubber_stamps(
    history: tuple[Loopdesk, float],
) -> None:
    app, _ = history
    (report,) = app.review_report("dana", OWN)
    stamps = report["rubber_stamps"]
    assert len(stamps) == report["overall"]["rubber_stamped"] == 4  # every approval, decided at once
    assert all(s["reviewer"] == "jamie" and s["words"] > 0 for s in stamps)
    (patient,) = app.review_report("dana", OWN, words_per_second=1e9)
    assert patient["rubber_stamps"] == [] and patient["drift"] == []
    assert cli("insights", "--words-per-second", "0").returncode != 0


def test_the_two_proportion_test_matches_the_textbook() -> None:
    assert two_proportion_p(20, 100, 30, 100) == pytest.approx(0.1025, abs=1e-4)  # z = 1.633
    assert two_proportion_p(10, 100, 40, 100) == pytest.approx(9.6e-7, rel=0.02)  # z = 4.899
    assert two_proportion_p(5, 5, 3, 3) == 1.0 and two_proportion_p(0, 0, 1, 2) is None


def test_before_and_after_a_new_prompt_says_whether_the_difference_is_real_yet(
    history: tuple[Loopdesk, float],
) -> None:
    app, size = history
    (report,) = app.review_report("dana", OWN)
    compared = report["before_after"]["draft"]
    assert (compared["before_version"], compared["after_version"]) == (1, 2)
    assert compared["before"] == {
        "reviews": 5,
        "approved_as_is": 2,
        "mean_edit_size": pytest.approx(size / 3),
    }
    assert compared["after"] == {"reviews": 2, "approved_as_is": 1, "mean_edit_size": 0.0}
    assert compared["p_value"] == pytest.approx(0.8092, abs=1e-3) and compared["significant"] is False


def test_reviews_are_grouped_by_the_monday_of_their_week() -> None:
    monday = 1_796_601_600.0  # 2026-12-07 00:00 UTC, a Monday
    assert week_of(monday) == "2026-12-07" and week_of(monday - 1) == "2026-11-30"
    found = [
        review("approved", 60, 50, monday + 3600),
        review("rejected", 60, 50, monday + 6 * 86400),
        review("approved", 60, 50, monday - 86400),
    ]
    weeks = weekly(found)
    assert [(w["week"], w["reviews"], w["approved_as_is_rate"]) for w in weeks] == [
        ("2026-11-30", 1, 1.0),
        ("2026-12-07", 2, 0.5),
    ]
