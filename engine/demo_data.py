"""Demo data: a handful of realistic runs of the shipped templates, waiting in reviewers' inboxes.

`load_demo_data` is additive: every call installs any missing template (idempotent) and then
starts one more batch of runs, so a presenter who clicks twice gets two batches. With no API
key the offline demo model answers instantly; with a key set, each run's AI steps call the
configured model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.errors import NotAllowedError
from engine.forms import example_values
from engine.services import Loopdesk


@dataclass(frozen=True)
class DemoRun:
    """One run to start: which workflow, who submits the form, and what they type."""

    workflow_id: str
    user: str
    inputs: dict[str, Any]


DEMO_RUNS: tuple[DemoRun, ...] = (
    DemoRun(
        "marketing-social-post",
        "dana",
        {
            "topic": "our spring webinar on AI-assisted reporting",
            "channel": "LinkedIn",
            "audience": "heads of marketing at B2B software companies",
            "key_message": "Live demo plus Q&A on 14 May; seats are limited to 200.",
            "target_language": "French",
        },
    ),
    DemoRun(
        "marketing-social-post",
        "dana",
        {
            "topic": "how Northwind cut weekly reporting from 6 hours to 40 minutes",
            "channel": "Instagram",
            "audience": "retail operations teams",
            "key_message": "Real numbers from a real customer, in a 60-second read.",
            "target_language": "Spanish",
        },
    ),
    DemoRun(
        "support-reply",
        "riley",
        {
            "customer_name": "Maria Lopez",
            "email": "maria.lopez@example.com",
            "subject": "Charged twice for my March invoice",
            "message": "Hi there,\n\nI was charged twice for our Team plan this month: two payments of $49 "
            "on 3 March. Could you refund the duplicate charge?\n\nThanks,\nMaria",
        },
    ),
    DemoRun(
        "support-reply",
        "riley",
        {
            "customer_name": "Devon Price",
            "email": "devon.price@example.com",
            "subject": "Export to CSV crashes the app",
            "message": "Hi,\n\nEvery time I click Export on the Reports page the app crashes with the error "
            '"Something went wrong". It started after yesterday\'s release. Chrome 124 on macOS.\n\n'
            "Best,\nDevon",
        },
    ),
    DemoRun(
        "support-reply",
        "riley",
        {
            "customer_name": "Priya Nair",
            "email": "priya.nair@example.com",
            "subject": "How do I add a teammate with view-only access?",
            "message": "Hello,\n\nHow do I add a new teammate to our workspace and give them view-only "
            "access? I couldn't find it in Settings.\n\nCheers,\nPriya",
        },
    ),
    DemoRun(
        "refund-request",
        "riley",
        {
            "customer_name": "Tom Becker",
            "email": "tom.becker@example.com",
            "order_id": "INV-20417",
            "amount": 588,
            "reason": "Our annual plan renewed on 2 May, but we moved to another tool in April and "
            "nobody has logged in since. Could you refund the renewal?\n\nThanks,\nTom",
        },
    ),
    DemoRun(
        "refund-request",
        "riley",
        {
            "customer_name": "Aiko Tanaka",
            "email": "aiko.tanaka@example.com",
            "order_id": "INV-20533",
            "amount": 29,
            "reason": "I upgraded to Pro by mistake instead of adding a seat and cancelled the same "
            "day. Can I get the $29 back?\n\nBest,\nAiko",
        },
    ),
    DemoRun(
        "blog-localisation",
        "dana",
        {
            "title": "Five ways to cut weekly reporting time",
            "audience": "operations leads at retail chains",
            "target_language": "German",
            "word_count": 600,
        },
    ),
)
"""One batch: marketing drafts for Jamie, support replies for Sam, refunds for support and
managers, and a blog article for Jamie's edit."""


def demo_inputs(app: Loopdesk, demo: DemoRun) -> dict[str, Any]:
    """The form values of one demo run: the examples its template ships, with the demo's own on top
    (a designer may have changed an installed template's form: only what it still asks is sent)."""
    trigger = app.get_workflow(demo.workflow_id).definition.trigger()
    fields = {f.name for f in trigger.fields}
    return {**example_values(trigger), **{k: v for k, v in demo.inputs.items() if k in fields}}


def load_demo_data(app: Loopdesk, user: str, background: bool = False) -> list[str]:
    """Install missing templates, then start one batch of demo runs; return their run ids.

    The runs are started on behalf of the demo requesters, so only designers and admins may.
    """
    if not app.permissions.has_role(user, "designer"):
        who = app.directory.name_of(user)
        raise NotAllowedError(user, f"{who} is not a designer or admin, so may not load demo data")
    app.install_templates()
    run_ids = []
    for demo in DEMO_RUNS:
        inputs = demo_inputs(app, demo)
        run = app.start_run(demo.workflow_id, inputs, demo.user, background=background)
        run_ids.append(run.id)
    return run_ids
