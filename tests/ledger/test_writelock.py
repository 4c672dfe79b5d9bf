"""pos.ledger.writelock: writers of one SQLite ledger take turns across processes, and give up in time."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from pos.ledger import open_ledger
from pos.ledger.schema import sales
from pos.ledger.writelock import WriteLock, lock_path_for


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "pos.sqlite3"
    open_ledger(f"sqlite:///{path}").close()  # migrated once
    return path


def _hold(lock_file: str, held: multiprocessing.Event, release: multiprocessing.Event) -> None:
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    held.set()
    release.wait(30)
    os.close(fd)


@pytest.fixture
def other_process(db):
    """Another process holding the ledger's write lock until the test lets it go."""
    spawn = multiprocessing.get_context("spawn")
    held, release = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=_hold, args=(str(lock_path_for(db)), held, release))
    holder.start()
    assert held.wait(30)
    yield release
    release.set()
    holder.join(30)


def _count(ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(sales)).scalar_one()


def test_a_write_waits_for_another_process_and_goes_through_when_it_lets_go(db, other_process):
    ledger = open_ledger(f"sqlite:///{db}", busy_timeout_ms=30_000)
    done = threading.Event()

    def write() -> None:
        ledger.create_sale(store="S01", lane="01", total_fee=100, body="等待")
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.3)  # still waiting for the other process (SQLite's own lock is free)
    assert _count(ledger) == 0
    other_process.set()
    writer.join(30)
    assert done.is_set() and _count(ledger) == 1
    ledger.close()


def test_a_write_that_waits_too_long_fails_like_a_locked_database_and_writes_nothing(db, other_process):
    ledger = open_ledger(f"sqlite:///{db}", busy_timeout_ms=200)
    with pytest.raises(OperationalError, match="database is locked"):
        ledger.create_sale(store="S01", lane="01", total_fee=100, body="超时")
    assert _count(ledger) == 0
    other_process.set()
    ledger.create_sale(store="S01", lane="01", total_fee=100, body="之后")  # the lock was left clean
    assert _count(ledger) == 1
    ledger.close()


def _ring_up(url: str, count: int, start: multiprocessing.Event, failures: multiprocessing.Queue) -> None:
    ledger = open_ledger(url)
    start.wait(30)
    failed = 0
    for _ in range(count):
        try:
            ledger.create_sale(store="S01", lane=f"{os.getpid() % 90 + 10}", total_fee=100, body="并发")
        except Exception:
            failed += 1
    failures.put(failed)
    ledger.close()


def test_four_processes_writing_at_once_all_get_their_turn(db):
    spawn = multiprocessing.get_context("spawn")
    start, failures = spawn.Event(), spawn.Queue()
    writers = [
        spawn.Process(target=_ring_up, args=(f"sqlite:///{db}", 40, start, failures)) for _ in range(4)
    ]
    for writer in writers:
        writer.start()
    start.set()
    lost = sum(failures.get(timeout=120) for _ in writers)
    for writer in writers:
        writer.join(30)
    assert lost == 0
    with open_ledger(f"sqlite:///{db}") as ledger:
        assert _count(ledger) == 160


def _a_child_cannot_take(lock: WriteLock) -> bool:
    """With ``lock`` held here: whether a forked child is refused it (it must not get it through
    this process's open file)."""
    with lock:
        child = os.fork()
        if child == 0:  # pragma: no cover - the child's verdict is its exit code
            try:
                with lock:
                    os._exit(1)  # got it through the parent's open file: wrong
            except OperationalError:
                os._exit(0)
            os._exit(2)
        _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


def test_a_forked_child_takes_the_lock_for_itself_not_through_its_parents_file(tmp_path):
    lock = WriteLock(tmp_path / "x.writers", timeout=0.2)
    assert _a_child_cannot_take(lock)


def test_the_lock_is_reentrant_in_a_thread_and_released_when_the_outer_one_ends(tmp_path):
    lock = WriteLock(tmp_path / "x.writers", timeout=0.2)
    with lock, lock:
        pass
    fd = os.open(tmp_path / "x.writers", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again: would raise BlockingIOError if held
    os.close(fd)
    lock.close()


def _free(path) -> bool:
    """Whether an flock on ``path`` can be taken right now (by another open file: another process's)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def test_a_writer_that_gave_up_does_not_keep_the_lock_when_it_arrives_later(tmp_path):
    path = tmp_path / "x.writers"
    other = WriteLock(path, timeout=5)  # its own open file: to the kernel, another process
    mine = WriteLock(path, timeout=0.1)
    with other, pytest.raises(OperationalError, match="database is locked"), mine:
        pass  # pragma: no cover - never reached: the lock is the other's
    # The wait left behind is granted once the other lets go, and let go again at once.
    with other:
        pass
    deadline = time.monotonic() + 10
    while not _free(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _free(path)
    with mine:  # and the writer's next turn works as usual
        assert not _free(path)
    assert _free(path)
    mine.close()
    other.close()


def test_a_writer_waiting_on_another_process_gets_the_lock_as_soon_as_it_is_let_go(tmp_path):
    path = tmp_path / "x.writers"
    other = WriteLock(path, timeout=5)
    mine = WriteLock(path, timeout=30)
    got = threading.Event()

    def write() -> None:
        with mine:
            got.set()

    other.__enter__()
    writer = threading.Thread(target=write)
    writer.start()
    assert not got.wait(0.2)  # waiting, in the kernel
    other.__exit__(None, None, None)
    writer.join(30)
    assert got.is_set() and _free(path)
    mine.close()
    other.close()


def test_a_forked_child_of_a_process_that_waited_takes_the_lock_for_itself(tmp_path):
    path = tmp_path / "x.writers"
    other = WriteLock(path, timeout=5)
    lock = WriteLock(path, timeout=0.2)
    with other, pytest.raises(OperationalError), lock:  # starts the waiting thread and its copy of the file
        pass  # pragma: no cover
    assert _a_child_cannot_take(lock)
    lock.close()
    other.close()


def test_a_closed_lock_with_a_wait_left_behind_opens_again_for_the_next_write(tmp_path):
    path = tmp_path / "x.writers"
    other = WriteLock(path, timeout=5)
    lock = WriteLock(path, timeout=0.1)
    with other:
        with pytest.raises(OperationalError), lock:
            pass  # pragma: no cover
        lock.close()  # while its waiting thread still waits for the other
    with lock:
        assert not _free(path)
    assert _free(path)
    lock.close()
    other.close()
