"""DLE EOT status through real sockets and a real pty: silence is "unknown", never "fine"."""

from __future__ import annotations

import socket

import pytest

from pos.printing.devices import open_device
from pos.printing.devices.testing import FakeNetworkPrinter, FakeSerialPrinter
from pos.printing.status import PrinterState, PrinterStatus, check_status, interpret, is_valid_reply

pytestmark = pytest.mark.timeout(20)  # a status check that hangs fails here instead of blocking CI

EXPECTED = {
    "online": PrinterState.ONLINE,
    "paper-near-end": PrinterState.PAPER_NEAR_END,
    "paper-out": PrinterState.PAPER_OUT,
    "cover-open": PrinterState.COVER_OPEN,
    "offline": PrinterState.OFFLINE,
    "silent": PrinterState.UNKNOWN,
    "garbage": PrinterState.UNKNOWN,
}


@pytest.mark.parametrize(("mode", "state"), EXPECTED.items())
def test_tcp_printer_conditions(mode, state):
    with FakeNetworkPrinter(mode) as printer:
        status = check_status(open_device(printer.spec), timeout=0.2)
    assert status.state is state
    assert status.can_print == (state in (PrinterState.ONLINE, PrinterState.PAPER_NEAR_END))
    assert printer.status_requests[0] == 1


@pytest.mark.parametrize(("mode", "state"), EXPECTED.items())
def test_serial_printer_conditions_over_a_pty(mode, state):
    with FakeSerialPrinter(mode) as printer:
        device = open_device(printer.spec)
        try:
            status = check_status(device, timeout=0.2)
        finally:
            device.close()
    assert status.state is state


def test_silent_printer_is_unknown_and_says_what_it_waited_for():
    with FakeNetworkPrinter("silent") as printer:
        status = check_status(open_device(printer.spec), timeout=0.1)
    assert status.state is PrinterState.UNKNOWN and not status.can_print
    assert "no answer to DLE EOT 1 within 0.1 s" in str(status)
    assert printer.status_requests == [1]  # gave up after the first silence


def test_offline_printer_is_asked_why_and_about_paper():
    with FakeNetworkPrinter("cover-open") as printer:
        status = check_status(open_device(printer.spec), timeout=0.2)
    assert printer.status_requests == [1, 2, 4]
    assert status.replies == {1: 0x1A, 2: 0x16, 4: 0x12}
    assert str(status) == "cover open: close the printer's cover"


def test_online_printer_is_asked_about_paper_only():
    with FakeNetworkPrinter("online") as printer:
        status = check_status(open_device(printer.spec), timeout=0.2)
    assert printer.status_requests == [1, 4]
    assert str(status) == "online"


def test_profile_without_status_is_not_asked():
    with FakeNetworkPrinter("online") as printer:
        status = check_status(open_device(printer.spec), timeout=0.2, supported=False)
    assert status.state is PrinterState.UNKNOWN and "does not report status" in status.detail
    assert printer.status_requests == []


def test_unreachable_printer_is_offline_with_the_reason():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    status = check_status(open_device(f"tcp:127.0.0.1:{port}"), timeout=0.2)
    assert status.state is PrinterState.OFFLINE and "unreachable" in status.detail


def test_file_device_cannot_read_so_status_is_unknown(tmp_path):
    status = check_status(open_device(f"file:{tmp_path / 'lp0'}"))
    assert status.state is PrinterState.UNKNOWN
    assert "cannot read" in status.detail


@pytest.mark.parametrize(
    ("word", "state", "can_print"),
    [
        (None, PrinterState.ONLINE, True),
        ("paper-out", PrinterState.PAPER_OUT, False),
        ("paper-near-end", PrinterState.PAPER_NEAR_END, True),
        ("cover-open", PrinterState.COVER_OPEN, False),
        ("unavailable", PrinterState.OFFLINE, False),
        ("jammed", PrinterState.UNKNOWN, False),
    ],
)
def test_virtual_printer_reports_its_state_file(tmp_path, word, state, can_print):
    if word:
        (tmp_path / "state").write_text(word)
    status = check_status(open_device(f"dir:{tmp_path}"))
    assert (status.state, status.virtual, status.can_print) == (state, True, can_print)
    if word is None:
        assert str(status) == "online (virtual)"


# --- interpretation of the answer bytes, every branch -----------------------------------------------


@pytest.mark.parametrize(
    ("replies", "state"),
    [
        ({1: 0x12, 4: 0x12}, PrinterState.ONLINE),
        ({1: 0x12, 4: 0x1E}, PrinterState.PAPER_NEAR_END),
        ({1: 0x12, 4: 0x16}, PrinterState.PAPER_NEAR_END),  # one of the two near-end bits
        ({1: 0x12, 4: 0x72}, PrinterState.PAPER_OUT),  # some printers stay "online" at paper end
        ({1: 0x1A, 2: 0x32, 4: 0x72}, PrinterState.PAPER_OUT),
        ({1: 0x1A, 2: None, 4: 0x72}, PrinterState.PAPER_OUT),  # cause unknown, paper sensor says end
        ({1: 0x1A, 2: 0x16, 4: 0x12}, PrinterState.COVER_OPEN),
        ({1: 0x1A, 2: 0x52, 4: 0x12}, PrinterState.OFFLINE),
        ({1: 0x1A, 2: 0x12, 4: 0x12}, PrinterState.OFFLINE),
        ({1: 0x1A}, PrinterState.OFFLINE),
        ({1: None}, PrinterState.UNKNOWN),
        ({}, PrinterState.UNKNOWN),
        ({1: 0x00, 4: 0x12}, PrinterState.UNKNOWN),  # fixed bits missing: not a status byte
        ({1: 0x12, 4: None}, PrinterState.UNKNOWN),  # online but paper unknown: not "fine"
        ({1: 0x12, 4: 0x93}, PrinterState.UNKNOWN),
    ],
)
def test_interpret(replies, state):
    assert interpret(replies).state is state


def test_valid_reply_needs_the_fixed_bits():
    assert is_valid_reply(0x12) and is_valid_reply(0x7E)
    assert not any(is_valid_reply(b) for b in (None, 0x00, 0x10, 0x02, 0x13, 0x92, 0xFF))


def test_status_values_compare_by_state_and_detail():
    assert PrinterStatus(PrinterState.ONLINE) == PrinterStatus(PrinterState.ONLINE, replies={1: 0x12})
    assert str(PrinterStatus(PrinterState.PAPER_OUT, "put in a new roll")) == "paper out: put in a new roll"
