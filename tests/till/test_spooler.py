"""The print spooler with real parts: a SQLite ledger file, the encoder's bytes, the dir: printer,
and a loopback TCP printer that can be switched off (connections refused) and on again."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zxingcpp
from structlog.testing import capture_logs

from pos import config
from pos.ledger import JobKind, JobState, LineItem, open_ledger
from pos.ledger.ledger import INTERRUPTED
from pos.printing import fonts, preview
from pos.printing.devices.base import PrinterUnavailable
from pos.printing.devices.spec import parse_spec
from pos.printing.devices.testing import REPLIES
from pos.printing.devices.virtual import DirPrinter
from pos.printing.encoder import encode
from pos.printing.profiles import load_profile
from pos.testing.clock import FakeClock
from pos.till.documents import render_job
from pos.till.spooler import Spooler, SpoolerConfigError

DLE_EOT = b"\x10\x04"
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "idle_poll": 0.02}


def wait_until(predicate, what: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (a deadline for a hung test, not a timing assertion)."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        pause.wait(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class SwitchablePrinter:
    """A raw-TCP printer on 127.0.0.1 that answers DLE EOT like an Epson in ``mode`` and keeps what
    each connection delivered. ``off()`` closes the listening socket (connections are refused, as
    with a printer switched off); ``on()`` listens again on the same port."""

    def __init__(self, mode: str = "online") -> None:
        self.mode = mode
        self.connections: list[bytes] = []
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        probe = socket.create_server(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.spec = f"tcp:127.0.0.1:{self.port}?connect_timeout=1&timeout=2"
        self.on()

    @property
    def jobs(self) -> list[bytes]:
        """Connections that carried a job (not only status questions), in arrival order."""
        with self._lock:
            return [c for c in self.connections if _without_status_requests(c)]

    def on(self) -> None:
        if self._server is not None:
            return
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(8)
        server.settimeout(0.02)
        self._server = server
        self._spawn(self._accept, server)

    def off(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, server: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # switched off
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        got = bytearray()
        conn.settimeout(0.02)
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                got += chunk
                if got.startswith(DLE_EOT) and len(got) == 3:  # a status question: answer it
                    reply = REPLIES[self.mode].get(got[2])
                    if reply is not None:
                        with contextlib.suppress(OSError):
                            conn.sendall(bytes([reply]))
        with self._lock:
            self.connections.append(bytes(got))

    def close(self) -> None:
        self._stop.set()
        self.off()
        for thread in self._threads:
            thread.join(timeout=2)


def _without_status_requests(data: bytes) -> bytes:
    return b"" if len(data) == 3 and data.startswith(DLE_EOT) else data


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 27, 2, 0, tzinfo=UTC))


@pytest.fixture
def db_path(database, tmp_path) -> Path:
    """The SQLite file, for tests that edit or lock it by hand (SQLite only)."""
    if database.kind != "sqlite":
        pytest.skip("edits or locks the SQLite file itself")
    return tmp_path / "pos.sqlite3"


@pytest.fixture
def ledger(database_url, clock):
    with open_ledger(database_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def printer_dir(tmp_path) -> Path:
    return tmp_path / "printer"


def make_config(
    device: str, *, profile: str = "xp80", language: str = "zh-CN", raster_font: str = ""
) -> config.Config:
    data = {
        "store": {
            "name": "街角咖啡" if language == "zh-CN" else "Corner Cafe",
            "footer": "谢谢惠顾" if language == "zh-CN" else "Thank you",
            "language": language,
        },
        "printer": {"device": device, "profile": profile, "raster_font": raster_font, "status_timeout": 0.3},
    }
    return config.from_mapping(data, "<test>", env={})


@pytest.fixture
def cfg(printer_dir) -> config.Config:
    return make_config(f"dir:{printer_dir}")


@pytest.fixture
def tcp_printer():
    printer = SwitchablePrinter()
    yield printer
    printer.close()


@pytest.fixture
def spoolers():
    """Spoolers made by a test, stopped at its end even when it fails."""
    made: list[Spooler] = []
    yield made
    for spooler in made:
        spooler.stop()


def new_spooler(spoolers, ledger, cfg, clock, **options) -> Spooler:
    spooler = Spooler(ledger, cfg, clock=clock, **{**FAST, **options})
    spoolers.append(spooler)
    return spooler


def ring_up(ledger, clock, n: int = 1, name: str = "拿铁", cashier: str = "小王") -> list:
    sales = []
    for i in range(n):
        sale = ledger.create_sale(
            store="S01", lane="01", items=[LineItem(f"{name}{i}", 1800 + i, 1)], cashier=cashier
        )
        sales.append(
            ledger.record_order(
                sale.id,
                code_url=f"weixin://wxpay/bizpayurl?pr=Q{sale.id:06d}",
                prepay_id=f"wx{sale.id:030d}",
                expires_at=clock.now + timedelta(minutes=15),
            )
        )
    return sales


def journal(printer_dir: Path) -> list[dict]:
    path = printer_dir / "jobs.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected_bytes(ledger, cfg, job_id: int) -> bytes:
    profile = load_profile(cfg.printer.profile)
    return encode(render_job(ledger.get_job(job_id), ledger, cfg, profile), profile)


def all_done(ledger) -> bool:
    return ledger.unfinished_jobs() == []


# -- printing in order, once ---------------------------------------------------------------------


def test_queued_jobs_print_in_order_each_once(ledger, clock, cfg, printer_dir, spoolers):
    sales = ring_up(ledger, clock, 3)
    z = ledger.enqueue_job("z_report", payload={"business_date": "2026-11-27"})
    label = ledger.enqueue_job(
        "label", payload={"name": "拿铁", "price": "18.00", "code_url": "weixin://wxpay/bizpayurl?pr=L"}
    )
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    spooler.start()
    wait_until(lambda: all_done(ledger), "every job printed")
    spooler.stop()

    ids = [ledger.jobs_for_sale(s.id)[0].id for s in sales] + [z.id, label.id]
    lines = journal(printer_dir)
    assert [line["job"] for line in lines] == [f"job-{i}" for i in ids]
    assert [line["kind"] for line in lines] == ["sale_slip"] * 3 + ["z_report", "label"]
    assert [line["out_trade_no"] for line in lines[:3]] == [s.out_trade_no for s in sales]
    for job_id, line in zip(ids, lines, strict=True):
        assert (printer_dir / line["bin"]).read_bytes() == expected_bytes(ledger, cfg, job_id)
        assert (printer_dir / line["png"]).is_file()
        job = ledger.get_job(job_id)
        assert (job.state, job.attempts, job.last_error) == (JobState.DONE, 0, None)
    status = spooler.status()
    assert (status.queued, status.last_error, status.current_job) == (0, None, None)
    assert status.last_printed_at == clock.now


def test_each_printed_job_is_handed_to_on_printed_and_its_failure_stops_nothing(
    ledger, clock, cfg, printer_dir, spoolers
):
    sales = ring_up(ledger, clock, 2)
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    seen = []

    def on_printed(job):
        seen.append(job)
        raise RuntimeError("a broken hook")

    spooler.on_printed = on_printed
    assert spooler.run_once() and spooler.run_once() and not spooler.run_once()
    assert [(j.sale_id, j.state) for j in seen] == [(s.id, JobState.DONE) for s in sales]
    assert seen == [ledger.get_job(j.id) for j in seen]
    assert len(journal(printer_dir)) == 2


def test_printed_sale_slip_qr_scans_to_the_code_url(ledger, clock, cfg, printer_dir, spoolers):
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.run_once() is True
    (line,) = journal(printer_dir)
    data = (printer_dir / line["bin"]).read_bytes()
    picture = preview.render(data, width_dots=load_profile("xp80").printable_dots)
    assert [r.text for r in zxingcpp.read_barcodes(picture.image)] == [sale.code_url]
    assert spooler.run_once() is False  # nothing left


def test_run_once_on_an_empty_queue_prints_nothing(ledger, clock, cfg, printer_dir, spoolers):
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.run_once() is False
    assert journal(printer_dir) == []


# -- printer off, then on -----------------------------------------------------------------------


def test_printer_off_jobs_wait_in_order_then_print_once(ledger, clock, tcp_printer, spoolers):
    cfg = make_config(tcp_printer.spec)
    sales = ring_up(ledger, clock, 3)
    ids = [ledger.jobs_for_sale(s.id)[0].id for s in sales]
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    tcp_printer.off()
    for attempt in (1, 2, 3):
        assert spooler.run_once() is False
        head, *rest = (ledger.get_job(i) for i in ids)
        assert (head.state, head.attempts) == (JobState.QUEUED, attempt)
        assert "offline" in head.last_error
        assert all((j.state, j.attempts) == (JobState.QUEUED, 0) for j in rest)  # blocked, untouched
    status = spooler.status()
    assert (status.printer, status.queued, status.current_job) == ("offline", 3, ids[0])
    assert "unreachable" in status.detail and status.last_error

    tcp_printer.on()
    assert [spooler.run_once() for _ in range(4)] == [True, True, True, False]
    wait_until(lambda: len(tcp_printer.jobs) == 3, "three jobs at the printer")
    assert tcp_printer.jobs == [expected_bytes(ledger, cfg, i) for i in ids]
    assert [ledger.get_job(i).state for i in ids] == [JobState.DONE] * 3
    status = spooler.status()
    assert (status.printer, status.queued, status.last_error) == ("online", 0, None)


def test_printer_off_then_on_with_the_thread(ledger, clock, tcp_printer, spoolers):
    cfg = make_config(tcp_printer.spec)
    tcp_printer.off()
    sales = ring_up(ledger, clock, 3)
    ids = [ledger.jobs_for_sale(s.id)[0].id for s in sales]
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    spooler.start()
    wait_until(lambda: ledger.get_job(ids[0]).attempts >= 3, "three failed attempts")
    assert [ledger.get_job(i).attempts for i in ids[1:]] == [0, 0]
    assert spooler.status().printer == "offline"
    tcp_printer.on()
    wait_until(lambda: all_done(ledger), "every job printed")
    wait_until(lambda: len(tcp_printer.jobs) >= 3, "three jobs at the printer")
    spooler.stop()
    assert tcp_printer.jobs == [expected_bytes(ledger, cfg, i) for i in ids]
    assert spooler.status().printer == "online"


def test_a_new_job_wakes_a_backing_off_spooler(ledger, clock, tcp_printer, spoolers):
    """With a long back-off, only wake() can make the retry prompt."""
    cfg = make_config(tcp_printer.spec)
    tcp_printer.off()
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock, backoff_base=60, backoff_max=60, idle_poll=60)
    spooler.start()
    job_id = ledger.jobs_for_sale(sale.id)[0].id
    wait_until(lambda: ledger.get_job(job_id).attempts == 1, "the first failure")
    tcp_printer.on()
    test_job = spooler.enqueue("test")
    wait_until(lambda: all_done(ledger), "both jobs printed after the wake")
    assert ledger.get_job(job_id).attempts == 1
    assert ledger.get_job(test_job.id).state is JobState.DONE


def test_stop_is_prompt_during_a_long_back_off(ledger, clock, tcp_printer, spoolers):
    cfg = make_config(tcp_printer.spec)
    tcp_printer.off()
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock, backoff_base=60, backoff_max=60)
    spooler.start()
    wait_until(lambda: ledger.get_job(ledger.jobs_for_sale(sale.id)[0].id).attempts == 1, "a failure")
    spooler.stop(timeout=5)
    assert not spooler.running and not spooler.status().running


def test_retry_delay_doubles_up_to_the_cap(ledger, clock, cfg, spoolers):
    spooler = new_spooler(spoolers, ledger, cfg, clock, backoff_base=1.0, backoff_max=30.0)
    assert [spooler.retry_delay(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert spooler.retry_delay(10_000) == 30


def test_an_idle_spooler_polls_often_only_while_no_notification_wakes_it(ledger, clock, cfg, spoolers):
    spooler = new_spooler(spoolers, ledger, cfg, clock, idle_poll=0.5, status_every=15.0, listening_poll=15.0)
    assert spooler.listening() is False  # SQLite, or a till whose LISTEN is down: the poll is all there is
    assert spooler.idle_pause(0.0) == spooler.idle_pause(14.9) == 0.5
    listening = True
    spooler.listening = lambda: listening
    assert spooler.idle_pause(0.0) == 15.0  # woken by every job: look again for the status check only
    assert spooler.idle_pause(10.0) == 5.0
    assert spooler.idle_pause(14.9) == 0.5  # never a busier loop than without notifications
    spooler.listening_poll = 3.0
    assert spooler.idle_pause(0.0) == 3.0
    listening = False  # the connection dropped: polling again at once
    assert spooler.idle_pause(0.0) == 0.5


# -- crash recovery -------------------------------------------------------------------------------


def test_job_left_printing_by_a_crash_is_requeued_at_start_and_printed_first(
    ledger, clock, cfg, printer_dir, spoolers
):
    first, second = ring_up(ledger, clock, 2)
    crashed = ledger.claim_next_job()  # the previous spooler died after claiming this one
    assert crashed.sale_id == first.id and crashed.state is JobState.PRINTING
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    spooler.start()
    wait_until(lambda: all_done(ledger), "both printed")
    spooler.stop()
    lines = journal(printer_dir)
    assert [line["out_trade_no"] for line in lines] == [first.out_trade_no, second.out_trade_no]
    job = ledger.get_job(crashed.id)
    assert (job.state, job.attempts, job.last_error) == (JobState.DONE, 1, INTERRUPTED)
    # Claimed but never sent: no copy can be on paper, so it prints as a first print, unmarked.
    assert job.interrupted_at is None and REPRINT not in slip_text(printer_dir / lines[0]["bin"])


REPRINT = "重打印 REPRINT"


def slip_text(path: Path) -> str:
    """What a slip's bytes print, as text: printable GB18030 runs of the ESC/POS stream."""
    text = path.read_bytes().decode("gb18030", errors="replace")
    return "".join(c if c.isprintable() else "\n" for c in text)


class KilledMidWrite(BaseException):
    """The till's process dying (kill -9, power cut) while a job's bytes go out: no handler runs."""


class DiesMidWrite(DirPrinter):
    """A dir: printer that puts the first half of a job on paper, then the process dies."""

    def _write_job(self, job):
        super()._write_job(dataclasses.replace(job, data=job.data[: len(job.data) // 2]))
        raise KilledMidWrite


def test_a_job_cut_short_by_a_crash_prints_again_marked_reprint_and_recorded(
    ledger, clock, cfg, printer_dir, spoolers
):
    (sale,) = ring_up(ledger, clock)
    dying = new_spooler(spoolers, ledger, cfg, clock, device=DiesMidWrite(parse_spec(f"dir:{printer_dir}")))
    with pytest.raises(KilledMidWrite):
        dying.run_once()
    assert ledger.jobs_for_sale(sale.id)[0].state is JobState.PRINTING  # as a kill leaves it
    clock.now += timedelta(minutes=3)  # the restart
    restarted = new_spooler(spoolers, ledger, cfg, clock)
    restarted.recover()
    assert restarted.run_once()
    half, again = journal(printer_dir)
    assert REPRINT not in slip_text(printer_dir / half["bin"])
    text = slip_text(printer_dir / again["bin"])
    assert text.index(REPRINT) < text.index("街角咖啡")  # at the top
    assert "首次打印 2026-11-27 10:00" in text  # when the cut-short copy went out, Shanghai time
    job = ledger.jobs_for_sale(sale.id)[0]
    assert (job.state, job.last_error, job.interrupted_at) == (
        JobState.DONE,
        INTERRUPTED,
        clock.now - timedelta(minutes=3),
    )
    [event] = [e for e in ledger.events_for_sale(sale.id) if e.event == "reprint"]
    assert event.detail["reason"] == "interrupted" and event.detail["job"] == job.id


def test_a_write_cut_short_by_the_printer_prints_again_marked(ledger, clock, cfg, printer_dir, spoolers):
    ring_up(ledger, clock)

    class HalfThenOff(DirPrinter):
        def _write_job(self, job):
            super()._write_job(dataclasses.replace(job, data=job.data[: len(job.data) // 2]))
            raise PrinterUnavailable("the printer went off mid-slip", written=len(job.data) // 2)

    cutting = new_spooler(spoolers, ledger, cfg, clock, device=HalfThenOff(parse_spec(f"dir:{printer_dir}")))
    assert not cutting.run_once()
    assert new_spooler(spoolers, ledger, cfg, clock).run_once()
    assert REPRINT in slip_text(printer_dir / journal(printer_dir)[-1]["bin"])


# -- jobs that cannot be rendered -----------------------------------------------------------------


def test_unrenderable_jobs_are_parked_and_later_jobs_print(ledger, clock, cfg, printer_dir, spoolers):
    no_sale = ledger.enqueue_job("sale_slip")  # a sale slip that belongs to no sale
    bad_label = ledger.enqueue_job("label", payload={"name": "拿铁"})  # no price, no url
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert [spooler.run_once() for _ in range(4)] == [False, False, True, False]
    assert [line["out_trade_no"] for line in journal(printer_dir)] == [sale.out_trade_no]
    for job_id in (no_sale.id, bad_label.id):
        job = ledger.get_job(job_id)
        assert job.state is JobState.PRINTING and job.attempts == 1  # parked: claim_next_job skips it
        assert job.last_error.startswith(f"cannot print: print job {job_id}")
    assert "belongs to no sale" in ledger.get_job(no_sale.id).last_error
    assert "no price" in ledger.get_job(bad_label.id).last_error
    status = spooler.status()
    assert status.parked == (no_sale.id, bad_label.id) and status.queued == 0

    # The next start gives them one more chance (a fixed config might print them); still bad: parked.
    restarted = new_spooler(spoolers, ledger, cfg, clock)
    assert {j.id for j in restarted.recover()} == {no_sale.id, bad_label.id}
    assert [restarted.run_once() for _ in range(3)] == [False, False, False]
    assert restarted.status().parked == (no_sale.id, bad_label.id)
    assert len(journal(printer_dir)) == 1
    assert ledger.get_job(no_sale.id).attempts == 3  # parked, re-queued at start, parked again


def test_job_whose_sale_was_deleted_does_not_block_the_thread(
    ledger, clock, cfg, printer_dir, db_path, spoolers
):
    gone, kept = ring_up(ledger, clock, 2)
    raw = sqlite3.connect(db_path)  # the file edited by hand, foreign keys off
    with raw:
        raw.execute("DELETE FROM sale_items WHERE sale_id = ?", (gone.id,))
        raw.execute("DELETE FROM events WHERE sale_id = ?", (gone.id,))
        raw.execute("DELETE FROM sales WHERE id = ?", (gone.id,))
    raw.close()
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    spooler.start()
    wait_until(lambda: len(journal(printer_dir)) == 1, "the later sale printed")
    spooler.stop()
    assert journal(printer_dir)[0]["out_trade_no"] == kept.out_trade_no
    (parked,) = spooler.status().parked
    assert f"no sale with id {gone.id}" in ledger.get_job(parked).last_error


def test_an_english_stores_epson_prints_a_chinese_item_name_as_raster(ledger, clock, printer_dir, spoolers):
    """No Chinese font in the printer, none configured: the bundled font draws the item name."""
    cfg = make_config(f"dir:{printer_dir}", profile="tm-t88v", language="en")
    (chinese,) = ring_up(ledger, clock, name="拿铁", cashier="Wang")
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.run_once() is True
    (line,) = journal(printer_dir)
    data = (printer_dir / line["bin"]).read_bytes()
    assert b"\x1c&" not in data and preview.raster_images(data)
    assert data == expected_bytes_with_font(ledger, cfg, chinese, spooler.raster_font)


# -- start-up refusals ----------------------------------------------------------------------------


def test_chinese_store_on_a_printer_without_chinese_font_starts_on_the_bundled_font(
    ledger, clock, printer_dir, spoolers, fresh_box
):
    cfg = make_config(f"dir:{printer_dir}", profile="tm-t88v", language="zh-CN")
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.raster_font == fonts.bundled()
    assert spooler.run_once() is True
    (line,) = journal(printer_dir)
    assert (printer_dir / line["bin"]).read_bytes() == expected_bytes_with_font(
        ledger, cfg, sale, fonts.bundled()
    )


def test_chinese_store_with_a_raster_font_starts_and_prints(ledger, clock, printer_dir, spoolers, tmp_path):
    font = tmp_path / "shop-font.otf"
    font.write_bytes(fonts.BUNDLED.read_bytes())  # a font of the shop's choosing, by its path
    cfg = make_config(f"dir:{printer_dir}", profile="tm-t88v", raster_font=str(font))
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.raster_font.path == str(font)
    assert spooler.run_once() is True
    (line,) = journal(printer_dir)
    assert (printer_dir / line["bin"]).read_bytes() == expected_bytes_with_font(ledger, cfg, sale, str(font))


def test_a_raster_font_without_the_stores_characters_is_refused_at_start(ledger, printer_dir, latin_font):
    cfg = make_config(f"dir:{printer_dir}", profile="tm-t88v", raster_font=latin_font)
    with pytest.raises(SpoolerConfigError) as caught:
        Spooler(ledger, cfg)
    message = str(caught.value)
    assert isinstance(caught.value, config.ConfigError) and "\n" not in message
    assert "[printer] raster_font" in message and latin_font in message
    assert "街角咖啡"[0] in message and "￥" in message  # what is missing, the store's name first
    assert not printer_dir.exists()  # nothing was printed to find out


def test_a_printer_with_a_chinese_font_still_refuses_a_raster_font_that_lacks_them(
    ledger, printer_dir, latin_font
):
    """The font also draws the previews; a shop that set it expects it to be used."""
    with pytest.raises(SpoolerConfigError, match=r"\[printer\] raster_font"):
        Spooler(ledger, make_config(f"dir:{printer_dir}", profile="xp80", raster_font=latin_font))


def expected_bytes_with_font(ledger, cfg, sale, font) -> bytes:
    profile = load_profile(cfg.printer.profile)
    job = ledger.jobs_for_sale(sale.id)[0]
    return encode(render_job(job, ledger, cfg, profile), profile, raster_font=font)


def test_bad_device_profile_or_font_is_refused_at_start(ledger, printer_dir):
    with pytest.raises(SpoolerConfigError, match=r"\[printer\] device.*unknown kind 'lpt'"):
        Spooler(ledger, make_config("lpt:1"))
    with pytest.raises(SpoolerConfigError, match=r"\[printer\] profile.*unknown printer profile 'nope'"):
        Spooler(ledger, make_config(f"dir:{printer_dir}", profile="nope"))
    with pytest.raises(
        SpoolerConfigError, match=r"\[printer\] raster_font: cannot read the font /nonexistent"
    ):
        Spooler(
            ledger, make_config(f"dir:{printer_dir}", profile="tm-t88v", raster_font="/nonexistent/font.ttc")
        )


# -- status -------------------------------------------------------------------------------------


def test_status_of_a_dir_printer_is_virtual_and_follows_its_state_file(
    ledger, clock, cfg, printer_dir, spoolers
):
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.status().printer == "virtual"
    (sale,) = ring_up(ledger, clock)
    job_id = ledger.jobs_for_sale(sale.id)[0].id
    printer_dir.mkdir()
    for word, shown in (("paper-out", "paper_out"), ("cover-open", "cover_open"), ("unavailable", "offline")):
        (printer_dir / "state").write_text(word)
        assert spooler.run_once() is False
        status = spooler.status()
        assert (status.printer, status.queued, status.current_job) == (shown, 1, job_id)
        assert ledger.get_job(job_id).state is JobState.QUEUED
    assert ledger.get_job(job_id).attempts == 3
    assert journal(printer_dir) == []  # nothing was sent to a printer that said it could not print
    (printer_dir / "state").write_text("online")
    assert spooler.run_once() is True
    assert spooler.status().printer == "virtual"
    assert len(journal(printer_dir)) == 1


def test_status_of_a_tcp_printer_off_on_and_out_of_paper(ledger, clock, tcp_printer, spoolers):
    cfg = make_config(tcp_printer.spec)
    (sale,) = ring_up(ledger, clock)
    job_id = ledger.jobs_for_sale(sale.id)[0].id
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.status().printer == "unknown"  # not asked yet: never "fine" by default

    tcp_printer.mode = "paper-out"
    assert spooler.run_once() is False
    assert spooler.status().printer == "paper_out"
    assert "paper" in ledger.get_job(job_id).last_error
    tcp_printer.off()
    assert spooler.run_once() is False
    assert spooler.status().printer == "offline"
    tcp_printer.mode = "cover-open"
    tcp_printer.on()
    assert spooler.run_once() is False
    assert spooler.status().printer == "cover_open"
    assert tcp_printer.jobs == []  # only status questions reached it
    tcp_printer.mode = "online"
    assert spooler.run_once() is True
    assert spooler.status().printer == "online"
    wait_until(lambda: len(tcp_printer.jobs) == 1, "the job at the printer")
    assert ledger.get_job(job_id).attempts == 3


def test_printer_that_does_not_answer_status_is_unknown_but_still_gets_the_job(
    ledger, clock, tcp_printer, spoolers
):
    cfg = make_config(tcp_printer.spec)
    tcp_printer.mode = "silent"
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    assert spooler.run_once() is True
    status = spooler.status()
    assert status.printer == "unknown" and "no answer" in status.detail
    wait_until(lambda: len(tcp_printer.jobs) == 1, "the job at the printer")
    assert tcp_printer.jobs == [expected_bytes(ledger, cfg, ledger.jobs_for_sale(sale.id)[0].id)]


def test_status_as_dict_is_json(ledger, clock, cfg, spoolers):
    ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    spooler.run_once()
    data = json.loads(json.dumps(spooler.status().as_dict()))
    assert data["printer"] == "virtual" and data["queued"] == 0
    assert data["last_printed_at"] == clock.now.isoformat()


# -- reprint, and never twice ---------------------------------------------------------------------


def test_reprint_queues_a_copy_and_wakes_the_thread(ledger, clock, cfg, printer_dir, spoolers):
    (sale,) = ring_up(ledger, clock)
    spooler = new_spooler(spoolers, ledger, cfg, clock, idle_poll=60)
    spooler.start()
    wait_until(lambda: len(journal(printer_dir)) == 1, "the slip")
    copy = spooler.reprint(sale.id, "sale_slip")
    wait_until(lambda: len(journal(printer_dir)) == 2, "the copy, woken without polling")
    spooler.stop()
    first, second = journal(printer_dir)
    original, reprinted = (slip_text(printer_dir / line["bin"]) for line in (first, second))
    assert REPRINT not in original  # the first print has no mark
    # The copy says so at the top, with the first copy's time in the store's zone (02:00 UTC = 10:00).
    assert reprinted.index(REPRINT) < reprinted.index("街角咖啡")
    assert "首次打印 2026-11-27 10:00" in reprinted and "不是新的交易" in reprinted
    assert reprinted.endswith(original[original.index("街角咖啡") :])  # then the same slip
    assert ledger.get_job(copy.id).reprint_of == ledger.jobs_for_sale(sale.id)[0].id


class LocksTheLedgerAfterWriting(DirPrinter):
    """A dir: printer after which another process holds the database's write lock, so job_done
    fails for real ("database is locked") right after the bytes were written."""

    def __init__(self, spec: str, db_path: Path):
        super().__init__(parse_spec(spec))
        self.blocker = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)

    def _write_job(self, job):
        written = super()._write_job(job)
        self.blocker.execute("BEGIN IMMEDIATE")
        return written

    def release(self) -> None:
        self.blocker.execute("ROLLBACK")


def test_job_printed_but_not_marked_done_is_never_written_again(clock, cfg, printer_dir, db_path, spoolers):
    with open_ledger(f"sqlite:///{db_path}", clock=clock, busy_timeout_ms=50) as ledger:
        (sale,) = ring_up(ledger, clock)
        job_id = ledger.jobs_for_sale(sale.id)[0].id
        device = LocksTheLedgerAfterWriting(f"dir:{printer_dir}", db_path)
        spooler = Spooler(ledger, cfg, device=device, clock=clock, **FAST)
        with capture_logs() as events:
            assert spooler.run_once() is True  # written; job_done failed
            assert spooler.run_once() is False  # still locked: no new claim, no second write
        failed = [e for e in events if e["event"] == "job_done_failed"]
        assert failed and all(e["job"] == job_id and e["log_level"] == "error" for e in failed)
        assert len(journal(printer_dir)) == 1
        assert "not marked done" in spooler.status().last_error
        device.release()
        assert spooler.run_once() is False  # marks it done, finds nothing else
        job = ledger.get_job(job_id)
        assert (job.state, job.attempts) == (JobState.DONE, 0)
        assert len(journal(printer_dir)) == 1
        assert spooler.status().last_error is None
        device.blocker.close()


def test_kinds_printed_cover_the_ledger(ledger, clock, cfg, printer_dir, spoolers):
    """Every kind the ledger can queue goes through the spooler to paper."""
    (sale,) = ring_up(ledger, clock)
    ledger.mark_paid(
        sale.out_trade_no,
        transaction_id="4200000001202611270000000009",
        total_fee=sale.total_fee,
        time_end=clock.now,
        source="notice",
    )
    refund = ledger.start_refund(sale.id, 100)
    ledger.complete_refund(refund.out_refund_no, refund_id="503")
    (voided,) = ring_up(ledger, clock)
    ledger.mark_voided(voided.id, reason="test")
    (expired,) = ring_up(ledger, clock)
    ledger.mark_expired(expired.id)
    ledger.enqueue_job("z_report", payload={"business_date": "2026-11-27"})
    ledger.enqueue_job("label", payload={"product_id": "P1", "name": "茶", "price": "8.00"})
    ledger.enqueue_job("test")
    spooler = new_spooler(spoolers, ledger, cfg, clock)
    while spooler.run_once():
        pass
    assert all_done(ledger) and spooler.status().parked == ()
    assert {line["kind"] for line in journal(printer_dir)} == {k.value for k in JobKind}
