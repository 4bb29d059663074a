"""`python -m engine`: validate, run, inbox, decide, show, retry, cancel, recover, token, archive, schema,
worker, migrate, timers, insights, replay."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.connections import ConnectionView
from engine.decisions import Approve, Decision, Reassign, Reject, RequestChanges
from engine.demo_data import load_demo_data
from engine.directory import OPERATOR
from engine.documents import checkpoint_document, run_document
from engine.durations import span
from engine.errors import EngineError, InvalidStateError, Problem, StoreLockedError, WorkflowValidationError
from engine.learning import DRIFT_MARGIN, READ_WORDS_PER_SECOND
from engine.model import load_workflow_json, workflow_json_schema
from engine.notify.settings import from_env as notify_settings
from engine.policies import Escalated
from engine.prompt_feedback import DEFAULT_RUNS
from engine.records import CheckpointRecord, RunRecord, TokenRecord
from engine.services import Loopdesk
from engine.store.location import redacted
from engine.store.migrate import copy_database
from engine.validation import ensure_valid, workflow_warnings
from engine.worker import POLL_SECONDS, STOP_GRACE_SECONDS, Worker


class UsageError(EngineError):
    """A command-line argument is malformed."""


def _pairs(items: Sequence[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"{flag} expects NAME=VALUE, got '{item}'")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def run_json(app: Loopdesk, run: RunRecord) -> dict[str, Any]:
    """The run as the CLI prints it (the same document the HTTP API returns)."""
    return run_document(app.store, run)


def checkpoint_json(cp: CheckpointRecord) -> dict[str, Any]:
    """A checkpoint as the CLI prints it."""
    return checkpoint_document(cp)


def _human_run(doc: dict[str, Any]) -> str:
    lines = [f"run {doc['run_id']} ({doc['workflow_id']} v{doc['version']}): {doc['status']}"]
    if doc.get("section"):
        lines.append(f"  section: {doc['section']}")
    if doc.get("checkpoint_id"):
        lines.append(f"  waiting at checkpoint {doc['checkpoint_id']} for {doc['assignee']}")
    if doc.get("outcome"):
        lines.append(f"  outcome: {doc['outcome']}")
    if doc.get("error"):
        lines.append(f"  error: {doc['error']}")
    for k, v in doc["values"].items():
        text = v if isinstance(v, str) else json.dumps(v)
        lines.append(f"  {k}: {text[:200]}")
    return "\n".join(lines)


def _emit(args: argparse.Namespace, doc: Any, human: str) -> None:
    print(json.dumps(doc, indent=2, default=str) if args.json else human)


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the workflow JSON Schema."""
    print(json.dumps(workflow_json_schema(), indent=2))
    return 0


def _problem_doc(p: Problem) -> dict[str, Any]:
    return {"node": p.node_id, "edge": p.edge_id, "message": p.message, "text": str(p)}


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate workflow files; exit 2 if any has problems."""
    report: list[dict[str, Any]] = []
    bad = False
    for path in args.files:
        try:
            wf = ensure_valid(load_workflow_json(Path(path).read_bytes(), path), source=path)
            warnings = [_problem_doc(p) for p in workflow_warnings(wf)]
            report.append({"file": path, "valid": True, "problems": [], "warnings": warnings})
        except OSError as exc:
            bad = True
            report.append(
                {"file": path, "valid": False, "problems": [{"message": f"cannot read: {exc.strerror}"}]}
            )
        except WorkflowValidationError as exc:
            bad = True
            report.append({"file": path, "valid": False, "problems": [_problem_doc(p) for p in exc.problems]})
        except EngineError as exc:
            bad = True
            report.append({"file": path, "valid": False, "problems": [{"message": str(exc)}]})
        except Exception as exc:  # a bug; the other files are still checked and reported
            bad = True
            message = f"could not be checked: unexpected {type(exc).__name__}: {exc}"
            report.append({"file": path, "valid": False, "problems": [{"message": message}]})
    lines = []
    for item in report:
        if item["valid"]:
            lines.append(f"{item['file']}: ok")
        for w in item.get("warnings", []):
            lines.append(f"{item['file']}: warning: {w['text']}")
        for p in item["problems"]:
            lines.append(f"{item['file']}: {p.get('text', p['message'])}")
    _emit(args, {"valid": not bad, "files": report}, "\n".join(lines))
    return 2 if bad else 0


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[Loopdesk]:
    """The service on `--db`, closed (and the database checkpointed) afterwards."""
    app = Loopdesk.open(args.db)
    try:
        yield app
    finally:
        app.close()


def _known(app: Loopdesk, user: str) -> None:
    """Refuse a `--user` the directory does not know (the operator needs no entry)."""
    if user != OPERATOR:
        app.directory.user(user)


def cmd_run(args: argparse.Namespace) -> int:
    """Start a run of a workflow file or saved workflow id and drive it."""
    with _opened(args) as app:
        _known(app, args.user)
        target = args.workflow
        path = Path(target)
        if path.suffix == ".json" or path.is_file():
            try:
                text = path.read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read {target}: {exc.strerror}") from None
            wf = ensure_valid(load_workflow_json(text, target), source=target)
            workflow_id = app.save_if_changed(wf, args.user, note=f"from {target}").workflow_id
        else:
            workflow_id = target
        run = app.start_run(workflow_id, _pairs(args.input, "--input"), args.user, detach=args.detach)
        doc = run_json(app, run)
        human = _human_run(doc)
        if args.detach:
            human += "\n  a worker drives it from here (python -m engine worker)"
        _emit(args, doc, human)
        return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Drive runs until SIGTERM or Ctrl-C (then finish or release what is held)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    app = Loopdesk.open(args.db, workers=args.concurrency)
    try:
        engine = app.engine
        print(
            f"worker {engine.owner} on {app.store.path}: up to {args.concurrency} run(s) at once, "
            f"leases of {engine.lease_seconds:g} s",
            flush=True,
        )
        report = Worker(app, poll_seconds=args.poll, grace_seconds=args.grace).run(stop)
    finally:
        app.close(grace_seconds=0)
    doc = {"driven": len(report.driven), "timeouts": len(report.timeouts), "released": report.released}
    human = (
        f"worker stopped: took up {doc['driven']} run(s), applied {doc['timeouts']} timeout(s), "
        f"released {len(report.released)} run(s) to other workers"
    )
    _emit(args, doc, human)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Copy a whole database to an empty one of any backend, verified by counts."""
    counts = copy_database(args.source, args.target, batch=args.batch)
    human = "\n".join(f"  {table}: {n}" for table, n in counts.items())
    doc = {"from": redacted(args.source), "to": redacted(args.target), "copied": counts}
    _emit(args, doc, f"copied:\n{human}")
    return 0


def _positive(text: str) -> int:
    value = _not_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def _not_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def cmd_inbox(args: argparse.Namespace) -> int:
    """List a user's pending checkpoints."""
    with _opened(args) as app:
        app.directory.user(args.user)
        items = [checkpoint_json(c) for c in app.inbox(args.user, limit=args.limit, offset=args.offset)]
        human = (
            "\n".join(
                f"{c['checkpoint_id']}  {c['title']}  "
                f"({c['workflow_id']}/{c['node_id']}, for {c['assignee']})"
                for c in items
            )
            or f"{args.user} has nothing to review"
        )
        _emit(args, items, human)
        return 0


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _review_line(f: dict[str, Any]) -> str:
    """One group's figures in a line a person reads."""
    size = "–" if f["mean_edit_size"] is None else f"{f['mean_edit_size']:.2f}"
    p50, p90 = (
        "–" if f[k] is None else span(float(f[k])) for k in ("review_seconds_p50", "review_seconds_p90")
    )
    return (
        f"{f['reviews']} reviews of {f['runs']} runs · as is {_share(f['approved_as_is_rate'])} · "
        f"with edits {_share(f['approved_with_edits_rate'])} · changes {_share(f['changes_requested_rate'])}"
        f" · rejected {_share(f['rejected_rate'])} · edit size {size} · review p50 {p50}, p90 {p90}"
        f" · overdue {f['overdue']}"
    )


def cmd_insights(args: argparse.Namespace) -> int:
    """What reviewers' decisions say of the AI, per workflow, AI step and prompt version, reviewer."""
    with _opened(args) as app:
        reports = app.review_report(args.user, args.workflow, args.words_per_second, args.drift_margin)
        lines: list[str] = []
        for r in reports:
            overall = r["overall"]
            cost = ""
            if overall["tokens_per_approved_task"] is not None:
                cost = (
                    f" · per approved task {overall['tokens_per_approved_task']:,.0f} tokens, "
                    f"${overall['cost_per_approved_task']:.4f}"
                )
            autos = f" · auto-approved {overall['auto_approved']}" if overall.get("auto_approved") else ""
            lines.append(f"{r['workflow_id']}: {_review_line(overall)}{cost}{autos}")
            if not r["window"]["complete"]:
                since = datetime.fromtimestamp(r["window"]["since"], tz=UTC).isoformat(timespec="seconds")
                lines.append(f"  (from the newest {r['window']['decisions']:,} decisions, since {since})")
            for node_id, versions in r["ai_steps"].items():
                for version, f in versions.items():
                    per_task = ""
                    if f["tokens_per_approved_task"] is not None:
                        per_task = (
                            f" · per approved task {f['tokens_per_approved_task']:,.0f} tokens, "
                            f"${f['cost_per_approved_task']:.4f}"
                        )
                    lines.append(
                        f"  AI step {node_id}, prompt of version {version}: {_review_line(f)}{per_task}"
                    )
            for who, f in r["reviewers"].items():
                lines.append(f"  reviewer {who}: {_review_line(f)}")
            for node_id, c in r["before_after"].items():
                rates = [
                    f"{c[side]['approved_as_is'] / c[side]['reviews']:.0%} of {c[side]['reviews']}"
                    for side in ("before", "after")
                ]
                verdict = "a real difference" if c["significant"] else "not significant yet"
                lines.append(
                    f"  AI step {node_id}: approved as is {rates[0]} with the prompt of version "
                    f"{c['before_version']}, {rates[1]} with version {c['after_version']} ({verdict}, "
                    f"p = {c['p_value']:.2f})"
                )
            if r["rubber_stamps"]:
                lines.append(
                    f"  ! {len(r['rubber_stamps'])} approvals came faster than the drafts can be read "
                    f"at {args.words_per_second:g} words a second"
                )
            for d in r["drift"]:
                lines.append(
                    f"  ! AI step {d['ai_step']}: approved as is {d['recent_approved_as_is_rate']:.0%} of "
                    f"{d['recent_reviews']} this week, {d['earlier_approved_as_is_rate']:.0%} of "
                    f"{d['earlier_reviews']} in the four weeks before"
                )
        _emit(args, reports, "\n".join(lines) or "no workflow whose runs you may see")
        return 0


def _estimate_line(e: dict[str, Any]) -> str:
    """What a replay is expected to use, before it starts."""
    cost = (
        "free (offline demo model)"
        if e["demo"]
        else "cost unknown (the model has no price)"
        if e["cost_usd"] is None
        else f"about ${e['cost_usd']:.4f}"
    )
    tokens = f"about {e['prompt_tokens'] + e['completion_tokens']:,} tokens"
    return f"replaying {e['calls']} drafts: {tokens}, {cost}"


def _replay_lines(doc: dict[str, Any]) -> list[str]:
    """A replay's result as lines a person reads: each step's summary, then run by run."""
    lines = []
    for node_id, step in doc["steps"].items():
        lines.append(f"AI step {node_id}: {step['summary']}")
        for c in step["runs"]:
            if c["error"]:
                lines.append(f"  {c['run_id']} “{c['title']}”: failed: {c['error']}")
                continue
            lines.append(
                f"  {c['run_id']} “{c['title']}”: {c['verdict']} · similarity to approved "
                f"{c['old_similarity']:.2f} → {c['new_similarity']:.2f} · edit size "
                f"{c['old_edit_size']:.2f} → {c['new_edit_size']:.2f}"
            )
    used = doc["usage"]
    cost = (
        "free (offline demo model)"
        if used["demo"]
        else "cost unknown"
        if used["cost_usd"] is None
        else (f"${used['cost_usd']:.4f}")
    )
    lines.append(f"used {used['prompt_tokens'] + used['completion_tokens']:,} tokens, {cost}")
    return lines


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay a changed workflow's AI steps on the last reviewed runs of a saved one, in a sandbox."""
    try:
        text = Path(args.file).read_bytes()
    except OSError as exc:
        raise InvalidStateError(f"cannot read {args.file}: {exc.strerror}") from None
    wf = load_workflow_json(text, args.file)
    with _opened(args) as app:
        _known(app, args.user)
        plan = app.replay_plan(wf, args.user, args.against, args.last)
        if not args.json:
            print(_estimate_line(plan.estimate.as_dict()), flush=True)
        done = app.replay(wf, args.user, args.against, args.last, plan=plan)
        doc = done.as_dict()
        _emit(args, doc, "\n".join(_replay_lines(doc)))
        return 0


def _decision(args: argparse.Namespace) -> Decision:
    comment = args.comment or ""
    edits = _pairs(args.edit, "--edit")
    if edits and not args.approve:
        raise UsageError("--edit goes with --approve")
    override = args.override_reason or ""
    if args.approve:
        return Approve(comment=comment, edits=edits, override_reason=override)
    if args.reject:
        return Reject(comment=comment, override_reason=override)
    if args.request_changes:
        return RequestChanges(comment=comment, override_reason=override)
    return Reassign(to=args.reassign_to, comment=comment, replacing=args.in_place_of or "")


def cmd_decide(args: argparse.Namespace) -> int:
    """Approve, reject, request changes or reassign a checkpoint."""
    decision = _decision(args)
    with _opened(args) as app:
        app.directory.user(args.user)
        run = app.decide(args.checkpoint_id, args.user, decision)
        doc = run_json(app, run)
        _emit(args, doc, _human_run(doc))
        return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Show a run with its steps and audit trail."""
    with _opened(args) as app:
        _known(app, args.user)
        d = app.run_detail(args.run_id, args.user)
        doc = run_json(app, d.run)
        doc["steps"] = [
            {
                "node_id": s.node_id, "kind": s.kind, "status": s.status, "output": s.output,
                "error": s.error, "duration_ms": round(s.duration_ms, 2), "meta": s.meta,
            }
            for s in d.steps
        ]  # fmt: skip
        doc["audit"] = [{"ts": a.ts, "actor": a.actor, "event": a.event, "detail": a.detail} for a in d.audit]
        lines = [_human_run(doc), "steps:"]
        for s in doc["steps"]:
            err = f"  error: {s['error']}" if s["error"] else ""
            lines.append(f"  {s['node_id']:<20} {s['status']:<7} {s['duration_ms']:>9.1f} ms{err}")
        lines.append("audit:")
        for a in doc["audit"]:
            lines.append(f"  {a['actor']:<10} {a['event']:<22} {json.dumps(a['detail'])[:120]}")
        _emit(args, doc, "\n".join(lines))
        return 0


def cmd_retry(args: argparse.Namespace) -> int:
    """Retry a failed run from its failed step."""
    with _opened(args) as app:
        _known(app, args.user)
        doc = run_json(app, app.retry(args.run_id, args.user))
        _emit(args, doc, _human_run(doc))
        return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel a running or waiting run."""
    with _opened(args) as app:
        _known(app, args.user)
        doc = run_json(app, app.cancel(args.run_id, args.user))
        _emit(args, doc, _human_run(doc))
        return 0


def cmd_recover(args: argparse.Namespace) -> int:
    """Continue runs that a crash cut off mid-step."""
    with _opened(args) as app:
        ids = app.recover()
        runs = [run_json(app, app.engine.get_run(i)) for i in ids]
        human = "\n".join(f"{r['run_id']}: {r['status']}" for r in runs) or "nothing to recover"
        _emit(args, {"recovered": runs}, human)
        return 0


def _moment(text: str) -> float:
    """A date (2026-01-01, midnight UTC) or an ISO time with its offset, as epoch seconds."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a date such as 2026-01-01 or a time such as 2026-12-05T10:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _escalation_line(app: Loopdesk, e: Escalated) -> str:
    """One line for one escalation step the timer took."""
    label = app.directory.label
    what = {
        "remind": f"reminded {label(e.assignee)}",
        "reassign": f"reassigned from {label(e.assignee)} to {label(e.to or '')}",
        "approve": "approved as Loopdesk",
        "reject": "rejected as Loopdesk",
    }[e.action]
    due = datetime.fromtimestamp(e.due_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{e.checkpoint_id} (run {e.run_id}): {what}: {e.reason}; due {due}"


def cmd_timers(args: argparse.Namespace) -> int:
    """Apply every reminder, escalation and timeout due at an instant, as the app's timer does."""
    at = args.at if args.at is not None else datetime.now(UTC).timestamp()
    with _opened(args) as app:
        done = app.engine.apply_timers(at)
        if args.json:  # one JSON object per action, one per line
            for e in done:
                print(json.dumps(e.as_dict()))
        else:
            when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            print("\n".join(_escalation_line(app, e) for e in done) or f"nothing was due at {when}")
        return 0


ARCHIVED_WORDS = {"runs": "runs", "steps": "steps", "checkpoints": "checkpoints", "audit": "audit events",
                  "outbox": "notifications to send", "outbox_log": "notifications sent"}  # fmt: skip


def cmd_archive(args: argparse.Namespace) -> int:
    """Move finished runs created before a date to monthly Parquet files."""
    with _opened(args) as app:
        _known(app, args.user)
        folder = Path(args.to) if args.to else app.archive_folder()
        live_before = app.store.count_runs()
        moved = app.archive(args.before, args.user, folder)
        live_after = app.store.count_runs()
        runs = sum(m.get("runs", 0) for m in moved.values())
        lines = [
            f"{month}: " + ", ".join(f"{n:,} {ARCHIVED_WORDS[t]}" for t, n in tables.items())
            for month, tables in moved.items()
        ]
        lines.append(
            f"archived {runs:,} finished run(s) to {folder}; the live store held {live_before:,} runs "
            f"and now holds {live_after:,}"
            if runs
            else "no finished run was created before that date; nothing was archived"
        )
        doc = {"folder": str(folder), "months": moved, "runs": runs, "live_runs": live_after}
        _emit(args, doc, "\n".join(lines))
        return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    """Start a batch of demo runs that wait in the reviewers' inboxes."""
    with _opened(args) as app:
        _known(app, args.user)
        ids = load_demo_data(app, args.user)
        runs = [run_json(app, app.engine.get_run(i)) for i in ids]
        human = "\n".join(
            f"{r['run_id']}: {r['workflow_id']} {r['status']}"
            + (f" (waiting for {r['assignee']})" if r.get("assignee") else "")
            for r in runs
        )
        _emit(args, {"runs": runs}, f"started {len(runs)} demo run(s)\n{human}")
        return 0


def _token_doc(t: TokenRecord) -> dict[str, Any]:
    return {
        "id": t.id, "user": t.user, "label": t.label, "created_at": t.created_at,
        "created_by": t.created_by, "revoked": t.revoked_at is not None,
    }  # fmt: skip


def cmd_token(args: argparse.Namespace) -> int:
    """Create, list or revoke API tokens (a new token is printed once; only its hash is kept)."""
    with _opened(args) as app:
        acting = args.by
        _known(app, acting)
        if args.action == "create":
            if not args.user:
                raise UsageError("token create needs --user NAME: the person the token acts as")
            record, secret = app.create_token(args.user, acting, args.label or "")
            doc = {**_token_doc(record), "token": secret}
            human = (
                f"token {record.id} for {record.user}: {secret}\n"
                "Store it now: it is not shown again. Send it as 'Authorization: Bearer <token>'."
            )
            _emit(args, doc, human)
        elif args.action == "list":
            docs = [_token_doc(t) for t in app.list_tokens(acting, args.user)]
            human = "\n".join(
                f"{d['id']}  {d['user']:<10} {'revoked' if d['revoked'] else 'active ':<8} {d['label']}"
                for d in docs
            )
            _emit(args, docs, human or "no API tokens")
        else:
            if not args.token_id:
                raise UsageError("token revoke needs the token's id (see `token list`)")
            record = app.revoke_token(args.token_id, acting)
            _emit(args, _token_doc(record), f"token {record.id} of {record.user} is revoked")
        return 0


def cmd_connection(args: argparse.Namespace) -> int:
    """Save, list or delete named connections (SMTP, HTTP, Slack); secrets are shown masked only."""
    with _opened(args) as app:
        _known(app, args.user)
        if args.action == "set":
            if not args.name or not args.type:
                raise UsageError("connection set needs a NAME and --type smtp|http|slack")
            view = app.connections.set(
                args.user, args.name, args.type, _pairs(args.set, "--set"), replace=args.replace
            )
            _emit(args, view.doc(), f"connection {view.name} ({view.type}) saved\n{_connection_line(view)}")
        elif args.action == "list":
            views = app.connections.list(args.user)
            _emit(args, [v.doc() for v in views], "\n".join(map(_connection_line, views)) or "no connections")
        else:
            if not args.name:
                raise UsageError("connection delete needs the connection's NAME (see `connection list`)")
            app.connections.delete(args.user, args.name)
            _emit(args, {"deleted": args.name}, f"connection {args.name} deleted")
        return 0


def _connection_line(view: ConnectionView) -> str:
    shown = {**view.settings, **view.secrets}
    line = f"{view.name:<16} {view.type:<6} " + "  ".join(f"{k}={v}" for k, v in sorted(shown.items()))
    return f"{line}  ({view.problem})" if view.problem else line.rstrip()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m engine`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        help="database file or postgresql:// URL (default: $LOOPDESK_DB or data/loopdesk.duckdb)",
    )
    common.add_argument("--json", action="store_true", help="print exactly one JSON document")
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument(
        "--user",
        default=OPERATOR,
        help="act as this person, with their rights (default: the local operator, who may do anything)",
    )
    p = argparse.ArgumentParser(prog="python -m engine", description="Loopdesk workflow engine")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("schema", parents=[common], help="print the workflow JSON Schema")
    s.set_defaults(func=cmd_schema)
    s = sub.add_parser("validate", parents=[common], help="check workflow files")
    s.add_argument("files", nargs="+")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("run", parents=[common, acting], help="start a run")
    s.add_argument("workflow", metavar="FILE_OR_WORKFLOW_ID")
    s.add_argument("--input", action="append", metavar="NAME=VALUE")
    s.add_argument(
        "--detach", action="store_true", help="only create the run (status running); a worker drives it"
    )
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("worker", parents=[common], help="drive runs until stopped (SIGTERM, Ctrl-C)")
    s.add_argument("--concurrency", type=_positive, default=4, help="runs driven at once (default 4)")
    s.add_argument(
        "--poll",
        type=float,
        default=POLL_SECONDS,
        help=f"seconds between looks for work (default {POLL_SECONDS:g})",
    )
    s.add_argument(
        "--grace",
        type=float,
        default=STOP_GRACE_SECONDS,
        help=f"seconds a stopping worker lets its drives finish before releasing them "
        f"(default {STOP_GRACE_SECONDS:g})",
    )
    s.set_defaults(func=cmd_worker)
    s = sub.add_parser("migrate", parents=[common], help="copy a whole database to an empty one")
    s.add_argument("--from", dest="source", required=True, metavar="PATH_OR_URL", help="the database to copy")
    s.add_argument("--to", dest="target", required=True, metavar="URL_OR_PATH", help="an empty database")
    s.add_argument("--batch", type=_positive, default=5000, help="runs copied per transaction (default 5000)")
    s.set_defaults(func=cmd_migrate)
    s = sub.add_parser("inbox", parents=[common], help="a user's pending checkpoints")
    s.add_argument("--user", required=True)
    s.add_argument("--limit", type=_positive, default=100, help="how many to list (default 100)")
    s.add_argument("--offset", type=_not_negative, default=0, help="how many of the oldest to skip")
    s.set_defaults(func=cmd_inbox)
    s = sub.add_parser(
        "insights", parents=[common, acting], help="what reviewers' decisions say of the AI steps"
    )
    s.add_argument("--workflow", help="one workflow (default: every workflow whose runs you may see)")
    s.add_argument(
        "--words-per-second",
        type=_positive_number,
        default=READ_WORDS_PER_SECOND,
        help="reading pace: approvals faster than this through their drafts are flagged (default 5)",
    )
    s.add_argument(
        "--drift-margin",
        type=_positive_number,
        default=DRIFT_MARGIN,
        help="flag an AI step whose approve-as-is rate fell by more than this in a week (default 0.2)",
    )
    s.set_defaults(func=cmd_insights)
    s = sub.add_parser(
        "replay",
        parents=[common, acting],
        help="test a changed workflow's AI steps on past reviewed runs (nothing is stored but the cost)",
    )
    s.add_argument("file", metavar="WORKFLOW_FILE", help="the changed workflow (JSON)")
    s.add_argument(
        "--against",
        metavar="WORKFLOW_ID",
        help="the saved workflow whose runs to replay (default: the file's id)",
    )
    s.add_argument(
        "--last",
        type=_positive,
        default=DEFAULT_RUNS,
        help=f"how many approved runs (default {DEFAULT_RUNS})",
    )
    s.set_defaults(func=cmd_replay)
    s = sub.add_parser("decide", parents=[common], help="decide a checkpoint")
    s.add_argument("checkpoint_id")
    s.add_argument("--user", required=True)
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--approve", action="store_true")
    g.add_argument("--reject", action="store_true")
    g.add_argument("--request-changes", action="store_true")
    g.add_argument("--reassign-to", metavar="USER")
    s.add_argument("--comment")
    s.add_argument("--edit", action="append", metavar="NAME=VALUE")
    s.add_argument(
        "--override-reason",
        metavar="TEXT",
        help="an admin deciding a run they started, or approving before a quorum is reached: why "
        "(recorded in the audit trail)",
    )
    s.add_argument(
        "--in-place-of",
        metavar="USER",
        help="with --reassign-to on an approval several people give: whose place the new person takes",
    )
    s.set_defaults(func=cmd_decide)
    for name, func in (("show", cmd_show), ("retry", cmd_retry), ("cancel", cmd_cancel)):
        s = sub.add_parser(name, parents=[common, acting], help=f"{name} a run")
        s.add_argument("run_id")
        s.set_defaults(func=func)
    s = sub.add_parser("token", parents=[common], help="create, list or revoke API tokens")
    s.add_argument("action", choices=["create", "list", "revoke"])
    s.add_argument("token_id", nargs="?", help="the token to revoke")
    s.add_argument("--user", help="whose token (create: required; list: default everyone's)")
    s.add_argument("--label", help="what the token is for, e.g. 'CRM integration'")
    s.add_argument("--by", default=OPERATOR, help="act as this person (default: the local operator)")
    s.set_defaults(func=cmd_token)
    s = sub.add_parser(
        "connection",
        parents=[common, acting],
        help="save, list or delete named connections to SMTP servers, HTTP APIs and Slack (admins)",
    )
    s.add_argument("action", choices=["set", "list", "delete"])
    s.add_argument("name", nargs="?", metavar="NAME", help="the connection (set, delete)")
    s.add_argument("--type", choices=["smtp", "http", "slack"], help="what it connects to (set)")
    s.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a setting (repeat); KEY= removes it; settings not named keep their saved values",
    )
    s.add_argument("--replace", action="store_true", help="forget the settings not named here")
    s.set_defaults(func=cmd_connection)
    s = sub.add_parser("recover", parents=[common], help="continue interrupted runs")
    s.set_defaults(func=cmd_recover)
    s = sub.add_parser("archive", parents=[common, acting], help="move old finished runs to Parquet files")
    s.add_argument("--before", type=_moment, required=True, metavar="DATE", help="runs created before (UTC)")
    s.add_argument(
        "--to", metavar="DIR", help="where the monthly files go (default: archive/ next to the database)"
    )
    s.set_defaults(func=cmd_archive)
    s = sub.add_parser(
        "timers", parents=[common], help="apply the reminders, escalations and timeouts due at an instant"
    )
    s.add_argument(
        "--at", type=_moment, metavar="TIME", help="the instant, e.g. 2026-12-05T10:00:00Z (default: now)"
    )
    s.set_defaults(func=cmd_timers)
    s = sub.add_parser("demo-data", parents=[common, acting], help="start demo runs waiting for reviewers")
    s.set_defaults(func=cmd_demo_data)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: user mistakes exit 1 (validation 2) with one line, no traceback."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except WorkflowValidationError as exc:
        _fail(args, exc, 2)
        return 2
    except StoreLockedError as exc:  # the app holds the file: the way in while it runs is its API
        base = notify_settings().base_url
        _fail(
            args,
            StoreLockedError(
                str(exc.path),
                f"; while the app runs, use its HTTP API instead ({base}/api/v1, documented at "
                f"{base}/api/v1/openapi.json) with a token made on “My account” in the app",
            ),
            1,
        )
        return 1
    except EngineError as exc:
        _fail(args, exc, 1)
        return 1
    except Exception as exc:  # a bug: one line here, the traceback with LOOPDESK_DEBUG=1
        if os.environ.get("LOOPDESK_DEBUG"):
            raise
        _fail(
            args,
            RuntimeError(
                f"unexpected error ({type(exc).__name__}: {exc}); rerun with LOOPDESK_DEBUG=1 for details"
            ),
            70,
        )
        return 70


def _fail(args: argparse.Namespace, exc: Exception, code: int) -> None:
    message = str(exc).replace("\n", " ")
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "kind": type(exc).__name__}))
    print(f"error: {message}", file=sys.stderr)
