"""The step journal: steps on disk until the writer is done with them, and the steps of
a process that died taken over by the next start of the same database, never by a live
process or another database's."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.flows.events import CallArrived, CallEnded, MemberRinging
from bridge.services import step_journal
from bridge.services.step_journal import StepJournal

DATABASE = "postgresql+psycopg://ringbridge:s3cret@db.example:5432/ringbridge"


def steps(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.steps"))


def arrived(call_id: str) -> CallArrived:
    return CallArrived(call_id=call_id, caller="3019", dialled="6002", label="ring group",
                       channel_id=f"ch-{call_id}", tenant_id=1)


def die_keeping(directory: Path, database: str, call_ids: list[str]) -> None:
    """A process that keeps a step per call and is killed before its writer is done."""
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from bridge.services.step_journal import StepJournal
        from tests.unit.test_step_journal import arrived
        journal = StepJournal(Path({str(directory)!r}), {database!r})
        for call_id in {call_ids!r}:
            journal.keep(arrived(call_id))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2],
                          check=False)
    assert done.returncode == -9


def test_a_step_is_on_disk_until_the_writer_is_done_with_it(tmp_path: Path) -> None:
    journal = StepJournal(tmp_path, DATABASE)
    journal.keep(arrived("C1"))
    journal.keep(MemberRinging(call_id="C1", member="3012"))
    (file,) = tmp_path.glob("*.steps")
    size = file.stat().st_size
    assert size > 0 and journal.waiting == 2
    journal.done(1)
    assert journal.waiting == 1
    journal.done(1)
    journal.close()
    assert steps(tmp_path) == [] and list(tmp_path.glob("*.lock")) == []


def test_the_file_in_use_starts_afresh_and_done_files_go(tmp_path: Path) -> None:
    journal = StepJournal(tmp_path, DATABASE, rotate_at=1)  # a file per step
    for n in range(3):
        journal.keep(arrived(f"C{n}"))
    assert len(steps(tmp_path)) == 4  # three full, one empty in use
    journal.done(2)
    assert len(steps(tmp_path)) == 2
    journal.close()  # one step not done: its file stays
    assert len(steps(tmp_path)) == 1


def test_a_file_whose_steps_are_all_done_is_left_past_a_smaller_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """So that a restart reads again only what the writer did since."""
    monkeypatch.setattr(step_journal, "ROTATE_DONE_AT", 1)
    journal = StepJournal(tmp_path, DATABASE)
    journal.keep(arrived("D1"))
    journal.keep(arrived("D2"))
    journal.done(1)  # D2 is not done: the file stays in use
    (first,) = steps(tmp_path)
    journal.done(1)
    assert steps(tmp_path) != [first] and len(steps(tmp_path)) == 1
    journal.keep(arrived("D3"))
    journal.close()
    assert [step.call_id for step in StepJournal(tmp_path, DATABASE).left] == ["D3"]


def test_a_dead_process_s_steps_are_taken_over_by_the_next_start(tmp_path: Path) -> None:
    die_keeping(tmp_path, DATABASE, ["A1", "A2", "A3"])
    journal = StepJournal(tmp_path, DATABASE)
    assert [step.call_id for step in journal.left] == ["A1", "A2", "A3"]
    first, sent = vars(journal.left[0]), vars(arrived("A1"))
    assert first.pop("at") <= sent.pop("at") and first == sent  # as kept, field by field
    journal.done(3)
    journal.close()
    assert steps(tmp_path) == [] and list(tmp_path.glob("*.lock")) == []


def test_steps_taken_over_are_taken_over_again_should_the_next_die_too(
        tmp_path: Path) -> None:
    die_keeping(tmp_path, DATABASE, ["A1"])
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from bridge.services.step_journal import StepJournal
        journal = StepJournal(Path({str(tmp_path)!r}), {DATABASE!r})
        assert len(journal.left) == 1
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[2], check=False)
    assert [step.call_id for step in StepJournal(tmp_path, DATABASE).left] == ["A1"]


def test_a_live_process_s_steps_are_never_taken(tmp_path: Path) -> None:
    running = StepJournal(tmp_path, DATABASE)
    running.keep(arrived("L1"))
    assert StepJournal(tmp_path, DATABASE).left == []
    assert running.waiting == 1


def test_another_database_s_steps_are_left_to_it(tmp_path: Path) -> None:
    other = "sqlite:////var/lib/other/ringbridge.db"
    die_keeping(tmp_path, other, ["O1"])
    assert StepJournal(tmp_path, DATABASE).left == []
    assert [step.call_id for step in StepJournal(tmp_path, other).left] == ["O1"]


def test_the_same_database_with_another_password_is_the_same(tmp_path: Path) -> None:
    die_keeping(tmp_path, DATABASE, ["P1"])
    rotated = DATABASE.replace("s3cret", "n3w")
    assert [step.call_id for step in StepJournal(tmp_path, rotated).left] == ["P1"]


def test_a_last_step_cut_short_ends_its_file(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    die_keeping(tmp_path, DATABASE, ["T1", "T2"])
    (file,) = tmp_path.glob("*.steps")
    file.write_bytes(file.read_bytes()[:-5])
    with caplog.at_level(logging.WARNING):
        left = StepJournal(tmp_path, DATABASE).left
    assert [step.call_id for step in left] == ["T1"]
    assert "its last step was cut short; 1 read" in caplog.text


def test_the_journal_is_for_its_user_alone(tmp_path: Path) -> None:
    directory = tmp_path / "journal"
    journal = StepJournal(directory, DATABASE)
    journal.keep(CallEnded(call_id="C1", why="caller hung up", cause=16))
    assert directory.stat().st_mode & 0o777 == 0o700
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in directory.iterdir())
    assert os.listdir(directory)


def test_a_full_disk_is_logged_once_and_counted_for_the_writer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    journal = StepJournal(tmp_path, DATABASE)
    journal.keep(arrived("F1"))

    def full(_fd: int, _data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", full)
        journal.keep(MemberRinging(call_id="F1", member="3012"))
        journal.keep(CallEnded(call_id="F1", why="caller hung up", cause=16))
    assert caplog.text.count("call record steps are not kept on disk") == 1
    assert journal.waiting == 3  # the writer's count of done steps stays in step
    journal.keep(arrived("F2"))
    journal.done(3)
    assert journal.waiting == 1
    journal.close()  # F2's file stays whole; the next start's writer skips F1's step
    assert [step.call_id for step in StepJournal(tmp_path, DATABASE).left] == ["F1", "F2"]


def test_a_step_cut_short_by_a_full_disk_is_cut_off(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    journal = StepJournal(tmp_path, DATABASE)
    journal.keep(arrived("H1"))
    real_write = os.write
    with monkeypatch.context() as patched:
        patched.setattr(os, "write", lambda fd, data: real_write(fd, data[:7]))
        journal.keep(arrived("H2"))
    journal.keep(arrived("H3"))
    journal.close()
    assert [step.call_id for step in StepJournal(tmp_path, DATABASE).left] == ["H1", "H3"]
