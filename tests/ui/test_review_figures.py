"""Insights' "Is the AI getting better?": one workflow's review figures on the page, as tables, the
before/after of a changed prompt, flags and a CSV with the same figures as the service."""

from __future__ import annotations

import csv
import io

from engine.decisions import Approve, Reject
from engine.services import Loopdesk
from tests.engine.test_learning import decide, waiting, with_instruction
from tests.ui.test_insights_archive import insights
from ui.review_figures import before_after_bars, csv_text


def test_a_workflow_s_review_figures_show_per_prompt_version_with_a_csv(service: Loopdesk) -> None:
    own = service.use_template("marketing-social-post", "dana").definition
    decide(service, waiting(service, own.id), Approve())
    decide(service, waiting(service, own.id), Reject(comment="Off brand"))
    service.save_workflow(with_instruction(own, "Write a short post about {{ topic }}."), "dana")
    decide(service, waiting(service, own.id), Approve())

    at = insights("dana")
    assert not [d for d in at.dataframe if "Prompt of version" in d.value.columns]  # nothing until chosen
    at.selectbox(key="insights_review_workflow").set_value(own.id).run()
    assert not at.exception, at.exception
    by_step = next(d.value for d in at.dataframe if "Prompt of version" in d.value.columns)
    assert list(by_step["AI step"]) == ["Draft the post", "Draft the post"]
    assert list(by_step["Prompt of version"]) == [1, 2]
    assert list(by_step["Approved as is"]) == ["50%", "100%"]
    assert list(by_step["AI calls"]) == [2, 1]
    assert list(by_step["Cost per approved task"]) == ["$0.0000", "$0.0000"]  # the demo costs nothing
    assert all(t != "—" and int(t.replace(",", "")) > 0 for t in by_step["Tokens per approved task"])
    reviewers = next(d.value for d in at.dataframe if "Reviewer" in d.value.columns)
    assert list(reviewers["Reviewer"]) == [service.directory.name_of("jamie")]
    said = " ".join(m.value for m in at.markdown)
    assert "approved as is 1 of 2 with the prompt of version 1, 1 of 1 with version 2" in said
    assert "not significant yet" in said
    assert any("faster than their drafts can be read" in w.value for w in at.warning)

    (report,) = service.review_report("dana", own.id)
    rows = list(csv.DictReader(io.StringIO(csv_text(report))))
    assert [(r["ai_step"], r["prompt_version"], r["reviews"]) for r in rows] == [
        ("draft", "1", "2"),
        ("draft", "2", "1"),
    ]
    assert float(rows[0]["approved_as_is_rate"]) == 0.5
    bars = before_after_bars(report["before_after"]["draft"])
    assert [(b["Prompt"], b["Approved as is (%)"]) for b in bars] == [
        ("version 1 (2 reviews)", 50.0),
        ("version 2 (1 review)", 100.0),
    ]
    assert [c for c in at.get("arrow_vega_lite_chart")] or [c for c in at.get("vega_lite_chart")]  # drawn
