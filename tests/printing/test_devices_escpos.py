"""Why our connections are not python-escpos's ``Network``, ``File``, ``Serial`` and ``Usb``.

Each test puts one of the library's connections (python-escpos 3.1) beside ours on the same real
fake printer (a TCP socket, a file, a pty; USB faked only at ``usb.core.find``) and shows the
behaviour the till needs that the library's class does not give. The reasons are written once,
in :mod:`pos.printing.devices`. When one of these tests fails, the library has caught up:
move that connection onto it.
"""

from __future__ import annotations

import socket

import pytest
import usb.core
import usb.util
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network, Serial, Usb

from pos.printing.devices import PrinterUnavailable, open_device
from pos.printing.devices.testing import FakeNetworkPrinter, FakeSerialPrinter

JOB = b"\x1b@hello\n"


def _ipv6_loopback() -> bool:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_network_printer_on_ipv6_ours_delivers_escpos_cannot_connect():
    with FakeNetworkPrinter(host="::1") as printer:
        assert open_device(printer.spec).write(JOB) == len(JOB)
        assert printer.wait_for_jobs(1) == [JOB]
        theirs = Network("::1", printer.port, timeout=1)
        with pytest.raises(DeviceNotFoundError):
            theirs.open()  # an AF_INET socket only


def test_file_printer_ours_appends_escpos_truncates_what_was_there(tmp_path):
    path = tmp_path / "lp0"
    open_device(f"file:{path}").write(JOB)
    theirs = File(str(path))
    theirs.open()  # open(devfile, "wb")
    theirs._raw(b"second")
    theirs.close()
    assert path.read_bytes() == b"second"  # the first job is gone
    open_device(f"file:{path}").write(JOB)
    assert path.read_bytes() == b"second" + JOB  # ours keeps what is there


def test_serial_printer_escpos_has_no_rts_cts_and_no_write_timeout():
    with FakeSerialPrinter() as printer:
        ours = open_device(f"{printer.spec}&flow=rtscts")
        theirs = Serial(printer.path, baudrate=115200, dsrdtr=False)  # "False to enable RTS/CTS"
        try:
            ours.write(JOB)
            theirs.open()
            theirs._raw(JOB)
            assert printer.wait_for(2 * len(JOB)) == JOB + JOB
            # ours: hardware flow control on, and a printer holding CTS cannot hang a write
            assert ours._port.rtscts is True and ours._port.write_timeout is not None
            # theirs: no flow control at all, and a write may block for ever
            assert theirs.device.rtscts is False and theirs.device.write_timeout is None
        finally:
            ours.close()
            theirs.close()


class _LibusbDevice:
    """usb.core.Device as libusb would answer for a printer CUPS already holds."""

    class backend:  # escpos looks at the backend's module before detaching the kernel driver
        __module__ = "usb.backend.libusb1"

    def __init__(self) -> None:
        self.resets = 0
        self.read_timeouts: list[object] = []

    def is_kernel_driver_active(self, interface: int) -> bool:
        return False

    def set_configuration(self) -> None:
        raise usb.core.USBError("Resource busy", errno=16)

    def reset(self) -> None:
        self.resets += 1

    def write(self, endpoint: int, data: bytes, timeout: int | None = None) -> int:
        return len(data)

    def read(self, endpoint: int, size: int, timeout: int | None = None) -> bytearray:
        self.read_timeouts.append(timeout)
        return bytearray(b"\x12")


def test_usb_printer_held_by_cups_ours_says_busy_escpos_opens_silently(monkeypatch):
    device = _LibusbDevice()
    monkeypatch.setattr(usb.core, "find", lambda **_kw: device)
    monkeypatch.setattr(usb.util, "dispose_resources", lambda _dev: None)

    with pytest.raises(PrinterUnavailable, match="busy"):
        open_device("usb:0416:5011").write(JOB)

    theirs = Usb(0x0416, 0x5011)
    theirs.open()  # the EBUSY from set_configuration is only logged
    assert theirs.device is device
    theirs._read()
    theirs.close()
    assert device.read_timeouts == [None]  # a status read with no timeout of its own

    ours = open_device("usb:0416:5011")
    monkeypatch.setattr(_LibusbDevice, "set_configuration", lambda self: None)
    assert ours.query(b"\x10\x04\x01", timeout=0.2) == b"\x12"
    assert device.read_timeouts[-1] == 200
