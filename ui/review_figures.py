"""The Insights page's "Is the AI getting better?" section: what reviewers' decisions say of one
workflow's AI steps (figures from `Loopdesk.review_report`), as tables, a weekly chart and a CSV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from engine.csv_export import csv_text as export_csv
from engine.durations import span
from engine.learning import READ_WORDS_PER_SECOND
from ui.format import minute

Name = Callable[[str], str]
"""How a step or reviewer id is shown (a title, a person's name)."""


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _size(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _time(value: float | None) -> str:
    return "—" if value is None else span(value)


def row(f: dict[str, Any]) -> dict[str, Any]:
    """One group's figures as table columns a person reads."""
    return {
        "Reviews": f["reviews"],
        "Runs": f["runs"],
        "Approved as is": _share(f["approved_as_is_rate"]),
        "Approved with edits": _share(f["approved_with_edits_rate"]),
        "Changes requested": _share(f["changes_requested_rate"]),
        "Rejected": _share(f["rejected_rate"]),
        "Mean edit size": _size(f["mean_edit_size"]),
        "Review p50": _time(f["review_seconds_p50"]),
        "Review p90": _time(f["review_seconds_p90"]),
        "Overdue": f["overdue"],
        "Possible rubber stamps": f["rubber_stamped"],
    }


def step_rows(report: dict[str, Any], step_name: Name) -> list[dict[str, Any]]:
    """A row per AI step and prompt version."""
    return [
        {"AI step": step_name(node_id), "Prompt of version": int(version), **row(f), **cost_columns(f)}
        for node_id, versions in report["ai_steps"].items()
        for version, f in versions.items()
    ]


def cost_columns(f: dict[str, Any]) -> dict[str, Any]:
    """An AI step's calls and what one approved task cost with one prompt version."""
    tokens, cost = f.get("tokens_per_approved_task"), f.get("cost_per_approved_task")
    return {
        "AI calls": f.get("ai_calls", 0),
        "Tokens per approved task": "—" if tokens is None else f"{tokens:,.0f}",
        "Cost per approved task": "—" if cost is None else f"${cost:.4f}",
    }


def csv_text(report: dict[str, Any]) -> str:
    """Every figure per AI step and prompt version, raw (rates 0–1, seconds), as CSV (cells that would
    start a formula in a spreadsheet neutralised)."""
    rows = [
        {"workflow_id": report["workflow_id"], "ai_step": node_id, "prompt_version": int(version), **f}
        for node_id, versions in report["ai_steps"].items()
        for version, f in versions.items()
    ]
    return export_csv(rows)


def before_after_bars(c: dict[str, Any]) -> list[dict[str, Any]]:
    """An AI step's prompt before and after, as bars: approve-as-is rate and edit size (both %)."""
    out = []
    for side, version in (("before", c["before_version"]), ("after", c["after_version"])):
        f = c[side]
        out.append(
            {
                "Prompt": f"version {version} ({f['reviews']} review{'s' if f['reviews'] != 1 else ''})",
                "Approved as is (%)": 100 * f["approved_as_is"] / f["reviews"] if f["reviews"] else 0.0,
                "Mean edit size (%)": 100 * (f["mean_edit_size"] or 0.0),
            }
        )
    return out


def before_after_line(step: str, c: dict[str, Any]) -> str:
    """An AI step's newest prompt against the one before, in a sentence with its counts."""
    before, after = c["before"], c["after"]
    verdict = "a real difference" if c["significant"] else "not significant yet; more runs will tell"
    verdict += f" (p = {c['p_value']:.2f})"
    return (
        f"**{step}**: approved as is {before['approved_as_is']} of {before['reviews']} with the prompt of "
        f"version {c['before_version']}, {after['approved_as_is']} of {after['reviews']} with version "
        f"{c['after_version']} — {verdict}."
    )


def show(report: dict[str, Any], step_name: Name, person_name: Name) -> None:
    """Draw one workflow's review figures."""
    overall = report["overall"]
    if not overall["reviews"]:
        st.info("No decision on this workflow yet: its figures start with the first review.")
        return
    if report["rubber_stamps"]:
        st.warning(
            f"{len(report['rubber_stamps'])} approvals came faster than their drafts can be read "
            f"({READ_WORDS_PER_SECOND:g} words a second): check that reviewers read what they approve.",
            icon=":material/speed:",
        )
    for d in report["drift"]:
        st.warning(
            f"{step_name(d['ai_step'])}: approved as is {d['recent_approved_as_is_rate']:.0%} of "
            f"{d['recent_reviews']} drafts this week, against {d['earlier_approved_as_is_rate']:.0%} of "
            f"{d['earlier_reviews']} in the four weeks before.",
            icon=":material/trending_down:",
        )
    window = report.get("window") or {}
    if window and not window["complete"]:
        st.caption(
            f"From the newest {window['decisions']:,} decisions (since {minute(window['since'])}); the "
            "counts further up cover every decision ever made."
        )
    st.dataframe([{"": "All reviews", **row(overall)}], hide_index=True, width="stretch")
    if overall.get("tokens_per_approved_task") is not None:
        st.caption(
            f"Per approved task: {overall['tokens_per_approved_task']:,.0f} AI tokens, "
            f"${overall['cost_per_approved_task']:.4f} (all drafts, rejected and sent-back work included)."
        )
    if overall.get("auto_approved"):
        st.caption(
            f"Besides these reviews by people, Loopdesk auto-approved {overall['auto_approved']} drafts "
            "(auto-approval with spot checks); they are not counted as reviews."
        )
    weeks = report["weeks"]
    if len(weeks) > 1:
        st.markdown("**Approved as is, by week**")
        trend = [
            {"Week": w["week"], "Approved as is (%)": (w["approved_as_is_rate"] or 0.0) * 100} for w in weeks
        ]
        st.line_chart(trend, x="Week", y="Approved as is (%)")
    st.markdown("**By AI step and prompt version**")
    st.dataframe(step_rows(report, step_name), hide_index=True, width="stretch")
    for node_id, compared in report["before_after"].items():
        st.markdown(before_after_line(step_name(node_id), compared))
        st.bar_chart(
            before_after_bars(compared),
            x="Prompt",
            y=["Approved as is (%)", "Mean edit size (%)"],
            stack=False,
            height=220,
        )
    st.markdown("**By reviewer**")
    st.dataframe(
        [{"Reviewer": person_name(who), **row(f)} for who, f in report["reviewers"].items()],
        hide_index=True,
        width="stretch",
    )
    st.download_button(
        "Download as CSV",
        data=csv_text(report),
        file_name=f"{report['workflow_id']}-review-figures.csv",
        mime="text/csv",
        icon=":material/download:",
        key="insights_review_csv",
    )
