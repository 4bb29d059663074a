"""What a reviewer changed, word by word, and the edit size stored with the decision."""

from __future__ import annotations

from engine.decisions import Approve
from engine.diffs import draft_edit_size, edit_size, inline_diff, similarity, word_diff, words_changed
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.engine.helpers import decision_of, linear_workflow
from ui.timeline import word_diff_markdown

BEFORE = "Spring sale: 20% off all shoes this week."
AFTER = "Spring sale: 25% off all shoes this week."


def test_a_one_word_change_is_one_word_not_a_line() -> None:
    assert word_diff(BEFORE, AFTER) == [
        ("same", "Spring sale:"),
        ("del", "20%"),
        ("ins", "25%"),
        ("same", "off all shoes this week."),
    ]
    assert words_changed(BEFORE, AFTER) == 1
    assert edit_size({"draft": {"before": BEFORE, "after": AFTER}}) == 0.125  # 1 of 8 words
    assert inline_diff(BEFORE, AFTER) == "Spring sale: [-20%-] {+25%+} off all shoes this week."
    assert "@@" not in word_diff_markdown(BEFORE, AFTER)
    assert word_diff_markdown(BEFORE, AFTER) == (
        "Spring sale\\: :red-background[~~20%~~] :green-background[25%] off all shoes this week\\."
    )


def test_line_breaks_and_markup_survive_the_diff() -> None:
    before, after = "Hi *all*\nbuy now", "Hi *all*\nbuy [today](x)"
    assert inline_diff(before, after) == "Hi *all*\nbuy [-now-] {+[today](x)+}"
    shown = word_diff_markdown(before, after)
    assert "\\*all\\*" in shown and "\\[today\\]" in shown  # user text never becomes markup


def test_the_edit_size_is_stored_with_the_decision(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    run = app.start_run("wf", {"topic": "spring sale"}, "riley")
    (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
    draft = str(run.values["draft"])
    last = draft.split()[-1]
    app.decide(cp.id, "jamie", Approve(edits={"draft": draft[: draft.rindex(last)] + "Today!"}))
    decision = decision_of(app.engine.get_checkpoint(cp.id))
    assert decision["edit_size"] == round(1 / len(draft.split()), 4)

    run = app.start_run("wf", {"topic": "autumn"}, "riley")
    (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
    app.decide(cp.id, "jamie", Approve())
    assert decision_of(app.engine.get_checkpoint(cp.id))["edit_size"] == 0.0


def test_a_draft_rewritten_whole_is_an_edit_size_of_one_line_breaks_are_not_words() -> None:
    draft = "Spring sale starts today.\n\nShop early and save.\nSee you there"
    assert words_changed(draft, "Totally new text") == 11
    assert edit_size({"draft": {"before": draft, "after": "Totally new text"}}) == 1.0
    assert words_changed("one two\nthree", "one two three") == 0  # a line joined: no word changed


def test_similarity_counts_matching_words_in_order() -> None:
    assert similarity("Spring sale today", "Spring sale today") == 1.0
    assert similarity("Spring sale today", "Spring sale\ntoday") == 1.0  # a line break is no word
    assert similarity("a b c d", "a b x y") == 0.5  # 2 × 2 matching / (4 + 4)
    assert similarity("one two", "") == 0.0 and similarity("", "") == 1.0
    assert draft_edit_size("a b c d", "a b c d e f") == 0.5  # two words added to a four-word draft
    assert draft_edit_size("same", "same") == 0.0
