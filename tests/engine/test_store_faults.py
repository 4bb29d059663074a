"""Faults that heal: a damaged, locked, full or read-only database gets one clear message, nothing
acknowledged is lost, and Loopdesk carries on by itself once the cause is gone.

The full and read-only disks are real: a small tmpfs, and a read-only bind mount (root only,
as on the CI machine; these tests fail rather than skip elsewhere).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.decisions import Approve
from engine.directory import Directory
from engine.errors import EngineError, StoreDamagedError, StoreLockedError, StoreUnavailableError
from engine.llm.base import CallProgress, LLMProvider, LLMRequest, LLMResponse
from engine.llm.demo import DemoProvider
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from engine.store.duckdb import DuckDBStore
from tests.engine.helpers import linear_workflow
from tests.fakes.clock import MovableClock
from tests.waiting import wait_until


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    assert done.returncode == 0, f"these tests need root to mount a test disk: {done.stderr}"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs that tests can fill up."""
    where = tmp_path / "disk"
    where.mkdir()
    mount("-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where))
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int = 0, name: str = "filler") -> Path:
    """Fill the disk, leaving about `leave` bytes; return the filler file (delete it to make room)."""
    filler = disk / name
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    if leave:
        with filler.open("r+b") as f:
            f.truncate(max(0, filler.stat().st_size - leave))
    return filler


def open_app(path: Path, provider: LLMProvider | None = None) -> Loopdesk:
    return Loopdesk.open(
        str(path), provider=provider or DemoProvider(), directory=Directory.load(), workers=2
    )


def duckdb_store(app: Loopdesk) -> DuckDBStore:
    """The app's store, which these tests reach into: a DuckDB file's."""
    assert isinstance(app.store, DuckDBStore)
    return app.store


def test_a_failed_start_does_not_poison_the_process(tmp_path: Path) -> None:
    db = tmp_path / "loopdesk.duckdb"
    db.write_bytes(b"this is not a database" * 100)
    for _ in range(2):  # the second attempt gets the real reason again, not "already open"
        with pytest.raises(StoreDamagedError, match=r"database file .* is damaged .*not a valid DuckDB"):
            open_app(db)
    db.unlink()
    app = open_app(db)
    try:
        app.save_workflow(linear_workflow(), "dana")
        assert app.start_run("wf", {"topic": "t"}, "riley").status == "waiting"
    finally:
        app.close()


@pytest.mark.parametrize(
    "damage",
    [
        lambda good: good[: len(good) // 3],  # cut off: DuckDB cannot read enough bytes
        lambda good: good[:12288] + bytes(4096) + good[16384:],  # a block zeroed: its checksum fails
        lambda good: b"\0" * 4096 + good[4096:],  # the header wiped
    ],
    ids=["truncated", "zeroed-block", "no-header"],
)
def test_every_kind_of_damage_is_named_as_damage_never_a_traceback(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    """The attack: a damaged file showed raw tracebacks with server paths on every page. Whatever the
    damage, opening it says the file is damaged, where it is and what to do."""
    db = tmp_path / "loopdesk.duckdb"
    app = open_app(db)
    app.install_templates()
    app.close()
    db.write_bytes(damage(db.read_bytes()))
    with pytest.raises(StoreDamagedError) as caught:
        open_app(db)
    message = str(caught.value)
    assert str(db) in message and "Restore it from a backup" in message and "Traceback" not in message


def test_a_truncated_file_is_named_and_a_restored_one_opens(tmp_path: Path) -> None:
    db = tmp_path / "loopdesk.duckdb"
    app = open_app(db)
    app.save_workflow(linear_workflow(), "dana")
    app.close()
    good = db.read_bytes()
    db.write_bytes(good[:5000])
    with pytest.raises(StoreDamagedError, match="is damaged and cannot be read"):
        open_app(db)
    db.write_bytes(good)
    app = open_app(db)
    try:
        assert [w.workflow_id for w in app.list_workflows()] == ["wf"]
    finally:
        app.close()


@pytest.mark.processes
def test_a_locked_database_is_named_and_opens_once_released(tmp_path: Path) -> None:
    db = tmp_path / "loopdesk.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(db)!r}); "
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreLockedError, match="is in use by another Loopdesk process"):
            Loopdesk.open(str(db), provider=DemoProvider(), lock_wait_seconds=0.3)
    finally:
        holder.communicate("", timeout=10)
    app = open_app(db)  # released: the same process opens it
    app.close()


@pytest.mark.processes
def test_a_full_disk_refuses_changes_with_one_message_and_heals(small_disk: Path) -> None:
    app = open_app(small_disk / "loopdesk.duckdb")
    app.store.clock = clock = MovableClock()
    try:
        app.save_workflow(linear_workflow(), "dana")
        run = app.start_run("wf", {"topic": "t"}, "riley")
        cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
        filler = fill(small_disk)

        with pytest.raises(StoreUnavailableError, match="No space left on device") as refused:
            app.decide(cp, "jamie", Approve(comment="looks good"))
        assert "Nothing saved so far is lost" in str(refused.value)
        assert "No space left on device" in (app.health() or "")
        assert app.engine.get_checkpoint(cp).status == "pending"  # reads still work
        assert app.engine.get_run(run.id).status == "waiting"

        filler.unlink()
        clock.advance(2.1)  # the next health check tries a write again
        assert app.health() is None
        assert app.decide(cp, "jamie", Approve(comment="looks good")).status == "completed"
    finally:
        app.close()


class DiskFillingProvider(DemoProvider):
    """The demo model, except that the translation step fills the disk while it answers."""

    def __init__(self, disk: Path) -> None:
        super().__init__()
        self.disk = disk
        self.translations = 0
        self.filler: Path | None = None

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        """Answer; during the first translation, leave no space for its result."""
        answer = super().complete(request, progress)
        if "Translate" in request.messages[-1]["content"]:
            self.translations += 1
            if self.translations == 1:
                self.filler = fill(self.disk)
            # long enough that saving it needs new disk pages, not just the last page's slack
            answer = dataclasses.replace(answer, text=answer.text + " Übersetzung." * 2000)
        return answer


@pytest.mark.processes
def test_a_run_whose_step_could_not_be_saved_carries_on_once_there_is_room(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack: a full disk refused the write of an AI answer; the answer was dropped and the model
    asked (and paid) again. Now the write is tried again for a while, then the answer waits in memory
    and is saved once there is room: the model is asked once."""
    monkeypatch.setenv("LOOPDESK_STORE_RETRY_SECONDS", "1")
    provider = DiskFillingProvider(small_disk)
    app = open_app(small_disk / "loopdesk.duckdb", provider)
    try:
        app.save_workflow(linear_workflow(), "dana")
        run = app.start_run("wf", {"topic": "t"}, "riley")
        cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
        after = app.decide(cp, "jamie", Approve())
        # the decision was saved; the translation's answer could not be, so the run waits there
        assert (after.status, after.current_node) == ("running", "translate")
        assert app.engine.get_run(run.id).current_node == "translate"
        assert app.engine.take_work() == []  # nothing can be saved yet…
        assert provider.filler is not None
        provider.filler.unlink()
        time.sleep(0.1)

        assert app.engine.take_work() == [run.id]
        wait_until(lambda: app.engine.get_run(run.id).status != "running", "the run carries on")
        done = app.engine.get_run(run.id)
        assert done.status == "completed" and done.section == "Published"
        steps = app.store.list_steps(run.id)
        assert [s.node_id for s in steps if s.node_id == "translate"] == ["translate"]  # saved once
        assert not [s for s in steps if s.status == "failed"]
        assert provider.translations == 1  # the kept answer was saved, not asked for again
        (translate,) = [s for s in steps if s.node_id == "translate"]
        assert translate.meta["saved_late_seconds"] > 0 and "Übersetzung" in str(translate.output)
    finally:
        app.close()


@pytest.mark.processes
def test_a_connection_duckdb_gave_up_is_reopened_once_the_disk_has_room(small_disk: Path) -> None:
    app = open_app(small_disk / "loopdesk.duckdb")
    app.store.clock = clock = MovableClock()
    try:
        app.save_workflow(linear_workflow(), "dana")
        run = app.start_run("wf", {"topic": "t"}, "riley")
        duckdb_store(app)._cur().execute("SET checkpoint_threshold = '1KB'")  # every commit checkpoints
        filler = fill(small_disk, leave=64 * 1024)  # room for the log, none for the checkpoint
        with pytest.raises(StoreUnavailableError, match="No space left on device"):
            app.cancel(run.id, "riley")  # its checkpoint fails: DuckDB invalidates the database
        assert duckdb_store(app)._broken == "No space left on device"
        assert "No space left on device" in (app.health() or "")
        rest = fill(small_disk, name="rest")  # not a page left now
        with pytest.raises(StoreUnavailableError, match="No space left on device"):
            # reopened for reading; still full (a run bigger than a page's slack in the log)
            app.start_run("wf", {"topic": "while full " * 5000}, "riley")

        filler.unlink()
        rest.unlink()
        clock.advance(2.1)
        assert app.health() is None  # reopened
        assert app.engine.get_run(run.id).status in ("waiting", "cancelled")
        assert [w.workflow_id for w in app.list_workflows()] == ["wf"]
        assert app.start_run("wf", {"topic": "after"}, "riley").status == "waiting"
    finally:
        app.close()


@pytest.mark.processes
def test_a_read_only_database_is_named_and_opens_once_writable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    app = open_app(data / "loopdesk.duckdb")
    app.save_workflow(linear_workflow(), "dana")
    app.close()
    view = tmp_path / "view"
    view.mkdir()
    mount("--bind", str(data), str(view))
    try:
        mount("-o", "remount,ro,bind", str(view))
        for _ in range(2):
            with pytest.raises(EngineError, match=r"cannot open the database .*Read-only file system"):
                open_app(view / "loopdesk.duckdb")
        mount("-o", "remount,rw,bind", str(view))
        app = open_app(view / "loopdesk.duckdb")
        try:
            assert [w.workflow_id for w in app.list_workflows()] == ["wf"]
        finally:
            app.close()
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_the_database_memory_is_capped_and_a_bad_setting_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPDESK_DB_MEMORY", "300MB")
    app = open_app(tmp_path / "capped.duckdb")
    try:
        assert duckdb_store(app)._cur().execute("SELECT current_setting('memory_limit')").fetchall() == [
            ("286.1 MiB",)
        ]
    finally:
        app.close()
    monkeypatch.setenv("LOOPDESK_DB_MEMORY", "lots")
    with pytest.raises(EngineError, match="LOOPDESK_DB_MEMORY is 'lots'; use a size such as 512MB or 2GB"):
        open_app(tmp_path / "other.duckdb")
