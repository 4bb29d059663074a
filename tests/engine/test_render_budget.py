"""Prompt rendering with a budget: a runaway prompt fails its step, and cancelling stops it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from engine import render_sandbox
from engine.catalog import list_templates
from engine.cli import main
from engine.model import AIStepNode, ApprovalNode, Workflow
from engine.services import Loopdesk
from engine.templating import is_plain, output_bound
from engine.validation import workflow_warnings
from tests.engine.helpers import as_dict, linear_workflow, node_as
from tests.waiting import wait_until

ENDLESS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}Hi"


def with_instruction(instruction: str, node_id: str = "draft", key: str = "instruction") -> Workflow:
    data = as_dict(linear_workflow())
    next(n for n in data["nodes"] if n["id"] == node_id)[key] = instruction
    return Workflow.model_validate(data)


def failed_run(app: Loopdesk, wf: Workflow) -> tuple[str, str]:
    """Save, run to the end; (run status, error)."""
    app.save_workflow(wf, "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    return run.status, run.error or ""


def test_a_prompt_that_runs_too_long_fails_its_step_naming_the_step_and_budget(
    app: Loopdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPDESK_RENDER_SECONDS", "0.5")
    started = time.monotonic()
    status, error = failed_run(app, with_instruction(ENDLESS))
    assert time.monotonic() - started < 5
    assert status == "failed"
    assert error == (
        "the instruction of step `draft` took longer than the render budget of 0.5 s; "
        "remove or shorten its loops"
    )
    (step,) = [s for s in app.store.list_steps(app.store.list_runs()[0].id) if s.status == "failed"]
    assert step.node_id == "draft" and step.error == error
    assert not render_sandbox.RUNNING  # the render process was stopped


def test_a_prompt_that_writes_too_much_fails_its_step(app: Loopdesk) -> None:
    status, error = failed_run(
        app, with_instruction("{% for i in range(100000) %}{{ topic * 20 }}{% endfor %}")
    )
    assert status == "failed"
    assert error == (
        "the instruction of step `draft` produced more than the render budget of 1,000,000 characters; "
        "shorten it or the values it repeats"
    )


def test_a_prompt_that_needs_huge_memory_fails_with_a_reason(
    app: Loopdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 999 references to one 1 MB text: cheap to build, a gigabyte to print. On a busy machine copying
    # half a gigabyte can outlast the 2 s time budget: this test is about memory, so time is ample.
    monkeypatch.setenv("LOOPDESK_RENDER_SECONDS", "60")
    status, error = failed_run(app, with_instruction("{{ ['x' * 999999] * 999 }}"))
    assert status == "failed"
    assert error.startswith("the instruction of step `draft` needed more than the render budget of 512 MB")


def test_text_built_beyond_the_output_budget_is_refused_before_it_is_built(app: Loopdesk) -> None:
    for prompt in ("{{ 'x' * 10**10 }}", "{{ topic * 10**9 }}", "{{ ('x' * 999999) + ('y' * 999999) }}"):
        status, error = failed_run(app, with_instruction(prompt))
        assert (status, error) == (
            "failed",
            "the instruction of step `draft` produced more than the render budget of 1,000,000 characters; "
            "shorten it or the values it repeats",
        ), prompt


def _reset_peak_memory() -> None:
    """Start counting this process's peak resident memory afresh (Linux: clear_refs 5)."""
    Path("/proc/self/clear_refs").write_text("5")


def _peak_memory_bytes() -> int:
    """This process's peak resident memory since the last reset (VmHWM)."""
    status = Path("/proc/self/status").read_text()
    line = next(row for row in status.splitlines() if row.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


@pytest.mark.parametrize(
    "prompt",
    [
        "{{ [" + ", ".join(["topic"] * 12_000) + "] }}",  # a list literal prints every copy at once
        "{{ topic }}" * 8_000,  # a placeholder repeated
        "{{ (topic, topic, topic, topic) }}" * 2_500,
        "{{ topic|e }}" * 7_000,
    ],
    ids=["list-literal", "repeated", "tuples", "escaped"],
)
def test_a_prompt_that_expands_a_large_value_never_takes_the_engines_memory(
    app: Loopdesk, prompt: str
) -> None:
    """The attack: a 100 KB value printed 12,000 times by one `{{ [t, t, …] }}` took the server from 174 MB
    to 1.39 GB. Bounded before rendering by the sizes of the values it prints, it renders in the capped
    sandbox (or stops at the output budget), and the engine's own process does not grow."""
    wf = with_instruction(prompt)
    app.save_workflow(wf, "dana")
    _reset_peak_memory()
    before = _peak_memory_bytes()
    run = app.start_run("wf", {"topic": "t" * 100_000}, "riley")
    grown = _peak_memory_bytes() - before
    assert run.status == "failed"
    assert run.error is not None and "render budget" in run.error
    assert run.error.startswith("the instruction of step `draft`")
    assert grown < 150 * 2**20, f"the engine's process grew by {grown / 2**20:.0f} MB"


def test_a_plain_prompt_whose_values_fit_still_renders_in_the_engine_thread(app: Loopdesk) -> None:
    prompt = "Write about {{ topic }} for {{ channel|upper }}; {% if topic in ['a', 'b'] %}short{% endif %}"
    assert is_plain(prompt) and output_bound(prompt, {"topic": "x" * 10, "channel": "X"}) <= 1_000_000
    assert not is_plain("{{ [topic, topic] }}") and is_plain("{% if x in ['a', 'b'] %}{% endif %}")
    assert output_bound("{{ topic }}{{ topic|e }}", {"topic": "x" * 100}) == 700


def test_plain_prompts_over_the_output_budget_fail_too(
    app: Loopdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPDESK_RENDER_CHARS", "50")
    wf = with_instruction("Write about {{ topic }}. " * 5)
    assert is_plain(node_as(wf, "draft", AIStepNode).instruction)  # rendered in the engine's own thread
    app.save_workflow(wf, "dana")
    run = app.start_run("wf", {"topic": "a topic of some length"}, "riley")
    assert run.status == "failed"
    assert "produced more than the render budget of 50 characters" in (run.error or "")


def test_reviewer_instructions_have_the_same_budget(app: Loopdesk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPDESK_RENDER_SECONDS", "0.3")
    status, error = failed_run(app, with_instruction(ENDLESS, node_id="review", key="instructions"))
    assert status == "failed"
    assert error.startswith("the reviewer instructions of step `review` took longer than the render budget")


def test_a_loop_that_fits_renders_normally(app: Loopdesk) -> None:
    wf = with_instruction("{% for i in range(3) %}{{ topic }} {{ i }}; {% endfor %}")
    app.save_workflow(wf, "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    assert run.status == "waiting"
    draft = next(s for s in app.store.list_steps(run.id) if s.node_id == "draft")
    assert draft.meta["messages"][-1]["content"] == "t 0; t 1; t 2; "


def test_cancelling_a_run_stops_its_render_at_once(app: Loopdesk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPDESK_RENDER_SECONDS", "60")
    app.save_workflow(with_instruction(ENDLESS), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley", background=True)
    wait_until(lambda: render_sandbox.RUNNING, "the render starts")
    (pid,) = render_sandbox.RUNNING
    assert _cpu_seconds(pid) is not None  # the render is really burning CPU in its own process
    app.cancel(run.id, "riley")
    stopped = time.monotonic()
    while _alive(pid):
        assert time.monotonic() - stopped < 2, "the render kept running after the run was cancelled"
        time.sleep(0.02)
    while render_sandbox.RUNNING:
        time.sleep(0.02)
    assert app.engine.get_run(run.id).status == "cancelled"
    assert not [s for s in app.store.list_steps(run.id) if s.status == "failed"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:  # reaped between the two looks
        return False


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().split()
    except FileNotFoundError:
        return None
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def test_every_shipped_prompt_is_plain_and_renders_in_the_engine_thread() -> None:
    for template in list_templates():
        for node in template.workflow.nodes:
            texts: list[str] = []
            if isinstance(node, AIStepNode):
                texts = [node.instruction, node.system_prompt]
            elif isinstance(node, ApprovalNode):
                texts = [node.instructions]
            assert all(is_plain(t) for t in texts), (template.workflow.id, node.id)
        assert workflow_warnings(template.workflow) == []


def test_validation_warns_about_loops_that_cannot_be_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wf = with_instruction("{% for i in range(n_items) %}{% for x in items %}{{ x }}{% endfor %}{% endfor %}")
    problems = [str(p) for p in workflow_warnings(wf)]
    assert problems == [
        "node `draft`: the instruction has a loop over range() of a size that is not a fixed number; if it "
        "runs longer than 2 s or writes more than 1,000,000 characters, the step fails",
        "node `draft`: the instruction has a loop inside another loop; if it runs longer than 2 s or writes "
        "more than 1,000,000 characters, the step fails",
    ]
    path = tmp_path / "loops.json"
    doc: dict[str, Any] = as_dict(with_instruction(ENDLESS))
    path.write_text(json.dumps(doc))
    assert main(["validate", str(path)]) == 0  # a warning does not make the file invalid
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: ok"
    assert out[1].startswith(f"{path}: warning: node `draft`: the instruction has a loop over range()")


def test_checking_a_prompt_never_computes_it() -> None:
    """Jinja folds constants while compiling; here it must not, or validation itself explodes."""
    import tracemalloc

    prompts = [
        "{{ 'x'|center(100000000) }}",
        "{{ 'x' * 100000000 }}",
        "{% if 'x'|center(100000000) %}y{% endif %}",
    ]
    wf = with_instruction(" ".join(prompts))
    tracemalloc.start()
    try:
        problems = validate_workflow_problems(wf)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems == []
    assert peak < 20_000_000, f"validation allocated {peak:,} bytes"


def validate_workflow_problems(wf: Workflow) -> list[str]:
    from engine.validation import validate_workflow

    return [str(p) for p in validate_workflow(wf)]
