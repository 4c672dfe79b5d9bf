"""Printer connections: real sockets, a real pty, real files; only libusb is faked (no USB here)."""

from __future__ import annotations

import json
import os
import socket

import pytest
import usb.core
from PIL import Image

from pos.printing import preview
from pos.printing.devices import (
    DeviceSpecError,
    PrinterUnavailable,
    PrintJob,
    StatusNotReadable,
    open_device,
    parse_spec,
)
from pos.printing.devices.file import FilePrinter
from pos.printing.devices.serialport import SerialPrinter
from pos.printing.devices.tcp import TcpPrinter
from pos.printing.devices.testing import FakeNetworkPrinter, FakeSerialPrinter
from pos.printing.devices.usb import UsbPrinter
from pos.printing.devices.virtual import DirPrinter

pytestmark = pytest.mark.timeout(30)

JOB = b"\x1b@\x1c&" + "合计￥44.70".encode("gb18030") + b"\n\x1dV\x01"

# --- device strings


@pytest.mark.parametrize(
    ("spec", "cls", "attrs"),
    [
        (
            "usb:04b8:0202",
            UsbPrinter,
            {"vendor_id": 0x04B8, "product_id": 0x0202, "in_ep": 0x82, "out_ep": 0x01},
        ),
        ("usb:0416:5011?in=0x81&out=0x03", UsbPrinter, {"in_ep": 0x81, "out_ep": 0x03}),
        ("serial:/dev/ttyUSB0", SerialPrinter, {"path": "/dev/ttyUSB0", "baud": 9600, "flow": "none"}),
        ("serial:/dev/ttyS0?baud=19200&flow=rtscts", SerialPrinter, {"baud": 19200, "flow": "rtscts"}),
        ("serial:/dev/rfcomm0?flow=xonxoff&parity=e", SerialPrinter, {"flow": "xonxoff", "parity": "E"}),
        ("tcp:192.168.1.50:9100", TcpPrinter, {"host": "192.168.1.50", "port": 9100}),
        ("tcp:printer.lan", TcpPrinter, {"host": "printer.lan", "port": 9100}),
        (
            "tcp:[::1]:9101?connect_timeout=0.5",
            TcpPrinter,
            {"host": "::1", "port": 9101, "connect_timeout": 0.5},
        ),
        ("file:/dev/usb/lp0", FilePrinter, {"path": "/dev/usb/lp0"}),
        ("dir:/tmp/printer", DirPrinter, {}),
        ("  TCP:10.0.0.9:9100  ", TcpPrinter, {"host": "10.0.0.9"}),
    ],
)
def test_good_device_strings_make_the_right_connection(spec, cls, attrs):
    device = open_device(spec)
    assert type(device) is cls
    for name, value in attrs.items():
        assert getattr(device, name) == value


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no printer device given"),
        ("lp0", "has no kind"),
        ("lpt:/dev/lp0", "unknown kind 'lpt'"),
        ("usb:", "nothing after 'usb:'"),
        ("usb:04b8", "needs VENDOR:PRODUCT"),
        ("usb:04b8:02:02", "needs VENDOR:PRODUCT"),
        ("usb:zzzz:0202", "vendor id 'zzzz' is not hexadecimal"),
        ("usb:04b8:123456789", "product id '123456789' must be 0000..ffff"),
        ("usb:04b8:0202?in=0x02", "not an IN endpoint"),
        ("usb:04b8:0202?out=0x81", "not an OUT endpoint"),
        ("usb:04b8:0202?in=eighty", "in='eighty' is not a whole number"),
        ("usb:04b8:0202?endpoint=1", "unknown option 'endpoint'"),
        ("serial:", "nothing after 'serial:'"),
        ("serial:/dev/ttyUSB0?baud=fast", "baud='fast' is not a whole number"),
        ("serial:/dev/ttyUSB0?baud=0", "baud=0 must be between"),
        ("serial:/dev/ttyUSB0?flow=dsrdtr", "flow='dsrdtr' must be one of none, rtscts, xonxoff"),
        ("serial:/dev/ttyUSB0?parity=X", "parity='X' must be N, E or O"),
        ("serial:/dev/ttyUSB0?speed=9600", "unknown option 'speed'"),
        ("serial:/dev/ttyUSB0?baud", "must look like name=value"),
        ("serial:/dev/ttyUSB0?baud=9600&baud=19200", "given twice"),
        ("tcp::9100", "needs a host"),
        ("tcp:printer:http", "port 'http' must be a number"),
        ("tcp:printer:70000", "port '70000' must be a number 1..65535"),
        ("tcp:[::1]x", "expected [ADDRESS]:PORT"),
        ("tcp:printer?connect_timeout=-1", "connect_timeout=-1 must be between"),
        ("file:", "nothing after 'file:'"),
        ("file:/dev/usb/lp0?mode=raw", "unknown option 'mode'"),
        ("dir:", "nothing after 'dir:'"),
    ],
)
def test_bad_device_strings_are_refused_with_what_is_wrong(spec, message):
    with pytest.raises(DeviceSpecError) as caught:
        open_device(spec)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_parse_spec_keeps_kind_target_and_options():
    spec = parse_spec("serial:/dev/ttyUSB0?baud=19200&flow=rtscts")
    assert (spec.kind, spec.target, spec.options) == (
        "serial",
        "/dev/ttyUSB0",
        {"baud": "19200", "flow": "rtscts"},
    )


# --- TCP


def test_tcp_job_arrives_whole_one_connection_per_job():
    big = JOB + bytes(range(256)) * 400
    with FakeNetworkPrinter() as printer:
        device = open_device(printer.spec)
        assert device.write(PrintJob(big, job_id="J1")) == len(big)
        assert device.write(JOB) == len(JOB)
        assert printer.wait_for_jobs(2) == [big, JOB] or sorted(printer.jobs) == sorted([big, JOB])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_refused_connection_is_printer_unavailable():
    device = open_device(f"tcp:127.0.0.1:{free_port()}")
    with pytest.raises(PrinterUnavailable, match="cannot connect") as caught:
        device.write(JOB)
    assert caught.value.written == 0


def test_tcp_printer_that_stops_reading_times_out_instead_of_hanging():
    # A listening socket that never accepts: the kernel completes the connection and buffers a
    # little, then the sender stalls -- like a printer whose buffer is full.
    with socket.create_server(("127.0.0.1", 0), backlog=1) as server:
        port = server.getsockname()[1]
        device = open_device(f"tcp:127.0.0.1:{port}?timeout=0.2")
        with pytest.raises(PrinterUnavailable, match="sending failed after") as caught:
            device.write(b"\0" * (64 << 20))
        assert 0 < caught.value.written < 64 << 20


# --- serial over a pty


@pytest.mark.parametrize("flow", ["none", "xonxoff", "rtscts"])
def test_serial_job_arrives_through_a_pty(flow):
    job = JOB * 200
    with FakeSerialPrinter() as printer:
        device = open_device(f"{printer.spec}&flow={flow}")
        try:
            assert device.write(job) == len(job)
            assert printer.wait_for(len(job)) == job
            assert device.write(JOB) == len(JOB)  # the port stays open between jobs
            assert printer.wait_for(len(job) + len(JOB)) == job + JOB
        finally:
            device.close()


def test_serial_missing_port_is_printer_unavailable(tmp_path):
    device = open_device(f"serial:{tmp_path / 'ttyUSB9'}")
    with pytest.raises(PrinterUnavailable, match="cannot open"):
        device.write(JOB)


def test_serial_write_timeout_grows_with_the_job():
    device = open_device("serial:/dev/ttyUSB0?baud=9600")
    assert device.write_timeout_for(16_000) > 2 * 16_000 * 10 / 9600
    assert device.write_timeout_for(100) < device.write_timeout_for(16_000)


# --- file


def test_file_device_appends_each_job(tmp_path):
    path = tmp_path / "lp0"
    device = open_device(f"file:{path}")
    device.write(JOB)
    device.write(b"second")
    assert path.read_bytes() == JOB + b"second"
    with pytest.raises(StatusNotReadable):
        device.query(b"\x10\x04\x01", timeout=0.1)


def test_file_device_never_creates_a_missing_device_node():
    device = open_device("file:/dev/usb/lp-does-not-exist")
    with pytest.raises(PrinterUnavailable, match="not found"):
        device.write(JOB)
    assert not os.path.exists("/dev/usb/lp-does-not-exist")


def test_file_device_without_permission_says_so(tmp_path):
    path = tmp_path / "lp0"
    path.write_bytes(b"")
    path.chmod(0o400)
    if os.access(path, os.W_OK):
        pytest.skip("running as root: permissions are not enforced")
    with pytest.raises(PrinterUnavailable, match="permission denied"):
        open_device(f"file:{path}").write(JOB)


# --- dir: the virtual printer


def test_dir_printer_writes_bytes_preview_and_a_journal_line(tmp_path):
    device = open_device(f"dir:{tmp_path / 'printer'}", width_dots=384)
    job = PrintJob(JOB, job_id="J42", kind="receipt", out_trade_no="S01-01-0001")
    assert device.write(job) == len(JOB)
    folder = tmp_path / "printer"
    assert (folder / "J42.bin").read_bytes() == JOB
    png = Image.open(folder / "J42.png")
    assert png.width == 384 + 2 * 16
    assert (folder / "J42.png").read_bytes() == preview.render_png(JOB, width_dots=384)
    [line] = (folder / "jobs.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("job", "kind", "out_trade_no", "bytes", "bin", "png")} == {
        "job": "J42",
        "kind": "receipt",
        "out_trade_no": "S01-01-0001",
        "bytes": len(JOB),
        "bin": "J42.bin",
        "png": "J42.png",
    }
    assert record["time"].endswith("+00:00")
    assert not list(folder.glob(".*tmp"))


def test_dir_printer_never_overwrites_a_reprint_and_names_bare_bytes(tmp_path):
    device = open_device(f"dir:{tmp_path}")
    device.write(PrintJob(b"first\n", job_id="J1"))
    device.write(PrintJob(b"again\n", job_id="J1"))
    device.write(b"anonymous\n")
    assert (tmp_path / "J1.bin").read_bytes() == b"first\n"
    assert (tmp_path / "J1-2.bin").read_bytes() == b"again\n"
    jobs = device.jobs()
    assert [j["bin"] for j in jobs[:2]] == ["J1.bin", "J1-2.bin"]
    assert jobs[2]["kind"] == "receipt" and (tmp_path / jobs[2]["bin"]).read_bytes() == b"anonymous\n"


def test_dir_printer_job_ids_cannot_escape_the_folder(tmp_path):
    device = open_device(f"dir:{tmp_path / 'printer'}")
    device.write(PrintJob(b"x\n", job_id="../../etc/passwd"))
    assert sorted(p.name for p in (tmp_path / "printer").iterdir()) == [
        "etc_passwd.bin",
        "etc_passwd.png",
        "jobs.jsonl",
    ]


def test_dir_printer_set_unavailable_refuses_and_writes_nothing(tmp_path):
    (tmp_path / "state").write_text("unavailable\n")
    device = open_device(f"dir:{tmp_path}")
    with pytest.raises(PrinterUnavailable, match="unavailable"):
        device.write(PrintJob(JOB, job_id="J1"))
    assert not (tmp_path / "J1.bin").exists() and device.jobs() == []
    (tmp_path / "state").write_text("online\n")
    device.write(PrintJob(JOB, job_id="J1"))
    assert len(device.jobs()) == 1


def test_dir_printer_keeps_the_job_when_the_preview_fails(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise MemoryError("no room for the picture")

    monkeypatch.setattr(preview, "render_png", broken)
    device = open_device(f"dir:{tmp_path}")
    device.write(PrintJob(JOB, job_id="J1"))
    assert (tmp_path / "J1.bin").read_bytes() == JOB
    assert device.jobs()[0]["png"] is None
    assert "MemoryError" in (tmp_path / "J1.preview-error.txt").read_text()


# --- USB: only libusb is faked, at usb.core.find


class FakeUsbDevice:
    """Stands in for usb.core.Device: what libusb would do with a printer on the other end."""

    def __init__(self, *, reply: bytes = b"\x12", busy: bool = False, fail_writes: int = 0):
        self.writes: list[tuple[int, bytes, int]] = []
        self.reads: list[tuple[int, int, int]] = []
        self.reply = reply
        self.busy = busy
        self.fail_writes = fail_writes
        self.detached: list[int] = []

    def is_kernel_driver_active(self, interface):
        return True

    def detach_kernel_driver(self, interface):
        self.detached.append(interface)

    def set_configuration(self):
        if self.busy:
            raise usb.core.USBError("Resource busy", errno=16)

    def write(self, endpoint, data, timeout=None):
        if self.fail_writes:
            self.fail_writes -= 1
            raise usb.core.USBError("No such device (it may have been disconnected)", errno=19)
        self.writes.append((endpoint, bytes(data), timeout))
        return len(data)

    def read(self, endpoint, size, timeout=None):
        self.reads.append((endpoint, size, timeout))
        if not self.reply:
            raise usb.core.USBTimeoutError("Operation timed out", errno=110)
        return bytearray(self.reply)


@pytest.fixture
def fake_usb(monkeypatch):
    found = {"device": FakeUsbDevice(), "calls": []}

    def find(**kwargs):
        found["calls"].append(kwargs)
        return found["device"]

    monkeypatch.setattr(usb.core, "find", find)
    monkeypatch.setattr(usb.util, "dispose_resources", lambda dev: None)
    return found


def test_usb_write_goes_to_the_out_endpoint_with_a_timeout(fake_usb):
    device = open_device("usb:0416:5011?out=0x03&in=0x81&timeout=2")
    assert device.write(JOB) == len(JOB)
    assert fake_usb["calls"] == [{"idVendor": 0x0416, "idProduct": 0x5011}]
    assert fake_usb["device"].writes == [(0x03, JOB, 2000)]
    assert fake_usb["device"].detached == [0]


def test_usb_query_reads_the_in_endpoint_and_never_waits_for_ever(fake_usb):
    device = open_device("usb:04b8:0202")
    assert device.query(b"\x10\x04\x01", timeout=0.25) == b"\x12"
    assert fake_usb["device"].reads == [(0x82, 16, 250)]
    assert device.query(b"\x10\x04\x01", timeout=0.0001) == b"\x12"
    assert fake_usb["device"].reads[-1][2] == 1  # 0 ms would mean "no timeout" to libusb
    fake_usb["device"].reply = b""
    assert device.query(b"\x10\x04\x04", timeout=0.1) == b""


def test_usb_missing_device_is_printer_unavailable(fake_usb):
    fake_usb["device"] = None
    with pytest.raises(PrinterUnavailable, match="no USB device 04b8:0202"):
        open_device("usb:04b8:0202").write(JOB)


def test_usb_busy_device_says_who_might_hold_it(fake_usb):
    fake_usb["device"] = FakeUsbDevice(busy=True)
    with pytest.raises(PrinterUnavailable, match="busy"):
        open_device("usb:04b8:0202").write(JOB)


def test_usb_failed_write_is_unavailable_and_the_device_is_found_again(fake_usb):
    fake_usb["device"] = FakeUsbDevice(fail_writes=1)
    device = open_device("usb:04b8:0202")
    with pytest.raises(PrinterUnavailable, match="USB write failed"):
        device.write(JOB)
    assert device.write(JOB) == len(JOB)
    assert len(fake_usb["calls"]) == 2  # looked up again after the failure (replugged printer)


def test_usb_without_libusb_says_what_to_install(monkeypatch):
    def find(**kwargs):
        raise usb.core.NoBackendError("No backend available")

    monkeypatch.setattr(usb.core, "find", find)
    with pytest.raises(PrinterUnavailable, match="libusb"):
        open_device("usb:04b8:0202").write(JOB)


def test_public_api_is_pinned():
    import pos.printing.devices as devices

    assert set(devices.__all__) >= {"open_device", "PrintJob", "PrinterUnavailable", "DeviceSpecError"}
    assert all(hasattr(devices, name) for name in devices.__all__)
    assert all(hasattr(preview, name) for name in preview.__all__)
