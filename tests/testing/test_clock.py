"""The shared fake clock: frozen, ticking, following another clock, or live plus an offset."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from pos.testing.clock import FakeClock

START = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def test_a_frozen_clock_answers_the_same_time_until_moved():
    clock = FakeClock(START)
    assert clock() == clock() == clock.now == START
    assert clock.advance(90) == START + timedelta(seconds=90)
    assert clock.advance(minutes=15, seconds=1) == START + timedelta(minutes=16, seconds=31)
    assert clock() == clock.now == START + timedelta(minutes=16, seconds=31)


def test_the_time_can_be_set_but_must_be_aware():
    clock = FakeClock(START)
    clock.now = START + timedelta(hours=14)
    assert clock() == START + timedelta(hours=14)
    with pytest.raises(ValueError, match="aware"):
        clock.now = datetime(2026, 11, 27, 2, 0)
    with pytest.raises(ValueError, match="aware"):
        FakeClock(datetime(2026, 11, 27))


def test_the_default_start_is_an_aware_whole_second():
    now = FakeClock().now
    assert now.tzinfo is not None and now.microsecond == 0


def test_the_clock_never_goes_back():
    clock = FakeClock(START)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(minutes=1, seconds=-61)
    assert clock() == START
    with pytest.raises(ValueError, match="negative"):
        FakeClock(START, tick=timedelta(seconds=-1))


def test_a_ticking_clock_moves_on_each_call_but_not_on_reading_now():
    clock = FakeClock(START, tick=timedelta(seconds=37))
    assert clock.now == START
    assert [clock(), clock()] == [START + timedelta(seconds=37), START + timedelta(seconds=74)]
    assert clock.now == START + timedelta(seconds=74)


def test_advance_moves_the_followed_clock_by_the_same_seconds():
    moved: list[float] = []
    clock = FakeClock(START, follow=moved.append)
    clock.advance(minutes=2)
    clock.advance(0.5)
    assert moved == [120.0, 0.5]
    assert clock() == START + timedelta(seconds=120.5)


def test_a_live_clock_runs_with_real_time_plus_what_it_was_moved():
    clock = FakeClock(live=True)
    clock.advance(hours=2)
    before = datetime.now(UTC)
    reading = clock()
    after = datetime.now(UTC)
    # bounds from the real clock read around the call, not a wall-clock figure
    assert before + timedelta(hours=2) <= reading <= after + timedelta(hours=2)
    with pytest.raises(ValueError, match="live"):
        clock.now = START
    with pytest.raises(ValueError, match="live"):
        FakeClock(START, live=True)


def test_threads_that_read_while_a_test_moves_it_see_every_step():
    clock = FakeClock(START, tick=timedelta(seconds=1))
    seen: list[datetime] = []
    lock = threading.Lock()

    def read() -> None:
        for _ in range(500):
            value = clock()
            with lock:
                seen.append(value)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # every tick was handed out exactly once: no two readers got the same time
    assert sorted(seen) == [START + timedelta(seconds=n) for n in range(1, 2001)]
