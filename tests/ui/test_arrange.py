"""Auto-arrange: a top-down layered layout every template and a tangled 30-step workflow come out of
readable — no two cards overlap, every forward connection points down, and arranging twice changes
nothing."""

from __future__ import annotations

import pytest

from engine.model import Position, Workflow
from tests.conftest import assert_readable_layout, load_template
from ui.arrange import ROW_GAP, arrange, layers
from ui.wiring import add_after


def piled_up(wf: Workflow) -> Workflow:
    """Every step dropped on the same spot, as a careless import or a long session leaves them."""
    return wf.model_copy(
        update={"nodes": [n.model_copy(update={"position": Position(x=0, y=0)}) for n in wf.nodes]}
    )


@pytest.mark.parametrize(
    "stem", ["marketing_social_post", "support_reply", "blog_localisation", "refund_request"]
)
def test_every_template_arranges_readably_and_arranging_again_changes_nothing(stem: str) -> None:
    arranged = arrange(piled_up(load_template(stem)))
    assert_readable_layout(arranged)
    assert arrange(arranged) == arranged
    form = arranged.node("form")
    assert all(n.position.y >= form.position.y for n in arranged.nodes)  # the form is on top
    assert [(e.source, e.target, e.label) for e in arranged.edges] == [
        (e.source, e.target, e.label) for e in load_template(stem).edges
    ]  # only positions change


def test_branch_cases_sit_side_by_side_under_the_branch() -> None:
    rows = layers(load_template("support_reply"))
    assert rows[:3] == [["form"], ["classify"], ["route"]]
    assert sorted(rows[3]) == ["draft_billing", "draft_bug", "draft_howto", "draft_other"]
    arranged = arrange(load_template("support_reply"))
    xs = sorted(arranged.node(n).position.x for n in rows[3])
    assert xs[0] < arranged.node("route").position.x < xs[-1]  # centred under the branch
    ys = {arranged.node(n).position.y for n in rows[3]}
    assert ys == {arranged.node("route").position.y + ROW_GAP}


def test_a_thirty_step_workflow_built_by_adding_steps_arranges_readably() -> None:
    wf = load_template("marketing_social_post")
    kinds = ["ai_step", "move_to_section", "approval"]
    for i in range(20):
        wf, _ = add_after(wf, "draft" if i % 2 else "translate", kinds[i % 3])
    assert len(wf.nodes) >= 30
    assert_readable_layout(arrange(piled_up(wf)))
