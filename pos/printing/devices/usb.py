"""USB printers through pyusb (libusb): bidirectional, so status can be read.

The kernel's ``usblp`` driver is detached from the interface first (as python-escpos does);
a printer also held by CUPS answers "busy", which is reported as such. After any failure the
device handle is dropped and looked up again on the next call, so a printer that was switched
off and on again is found again in the same process (python-escpos #437).
"""

from __future__ import annotations

import contextlib

import usb.core
import usb.util

from pos.printing.devices.base import PrinterDevice, PrinterUnavailable, PrintJob
from pos.printing.devices.spec import DeviceSpec

OPTIONS = {
    "in": "IN endpoint, e.g. 0x82 (find it with lsusb -v)",
    "out": "OUT endpoint, e.g. 0x01",
    "interface": "interface number, default 0",
    "timeout": "seconds a write may take, default 10",
}


class UsbPrinter(PrinterDevice):
    kind = "usb"
    can_read = True

    def __init__(self, spec: DeviceSpec):
        super().__init__(spec.text)
        ids = spec.target.split(":")
        if len(ids) != 2:
            raise spec.fail(f"usb: needs VENDOR:PRODUCT as hex ids, e.g. usb:04b8:0202, not {spec.target!r}")
        self.vendor_id = _hex_id(spec, "vendor", ids[0])
        self.product_id = _hex_id(spec, "product", ids[1])
        spec.check_options(OPTIONS)
        self.in_ep = spec.integer("in", 0x82, low=0, high=0xFF, base=0)
        self.out_ep = spec.integer("out", 0x01, low=0, high=0xFF, base=0)
        if not self.in_ep & 0x80:
            raise spec.fail(f"in={self.in_ep:#04x} is not an IN endpoint (those have bit 7 set: 0x81..0x8f)")
        if self.out_ep & 0x80:
            raise spec.fail(f"out={self.out_ep:#04x} is not an OUT endpoint (those are 0x01..0x0f)")
        self.interface = spec.integer("interface", 0, low=0, high=15)
        self.write_timeout = spec.number("timeout", 10.0, low=0.1, high=600)
        self._dev = None

    @property
    def ids(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"

    def _device(self):
        if self._dev is not None:
            return self._dev
        try:
            dev = usb.core.find(idVendor=self.vendor_id, idProduct=self.product_id)
        except usb.core.NoBackendError:
            raise PrinterUnavailable(
                f"{self.spec}: libusb is not installed (apt-get install libusb-1.0-0)"
            ) from None
        if dev is None:
            raise PrinterUnavailable(
                f"{self.spec}: no USB device {self.ids} (plugged in and switched on? see lsusb)"
            )
        try:
            if dev.is_kernel_driver_active(self.interface):
                dev.detach_kernel_driver(self.interface)
        except (NotImplementedError, usb.core.USBError):
            pass  # not on this platform, or nothing to detach
        try:
            dev.set_configuration()
        except usb.core.USBError as exc:
            if getattr(exc, "errno", None) == 16:  # EBUSY: someone else (CUPS, usblp) holds it
                raise PrinterUnavailable(
                    f"{self.spec}: USB device {self.ids} is busy (held by CUPS?)"
                ) from None
            if getattr(exc, "errno", None) == 13:
                raise PrinterUnavailable(
                    f"{self.spec}: no permission for USB device {self.ids} (add a udev rule, see the README)"
                ) from None
            # "already configured" and similar: the device still works.
        self._dev = dev
        return dev

    def _forget(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            with contextlib.suppress(Exception):
                usb.util.dispose_resources(dev)

    def _write_job(self, job: PrintJob) -> int:
        dev = self._device()
        try:
            written = dev.write(self.out_ep, job.data, int(self.write_timeout * 1000))
        except usb.core.USBError as exc:
            self._forget()
            raise PrinterUnavailable(f"{self.spec}: USB write failed: {exc}") from None
        if written != len(job.data):
            self._forget()
            raise PrinterUnavailable(
                f"{self.spec}: USB wrote {written} of {len(job.data)} bytes", written=written
            )
        return written

    def query(self, request: bytes, *, timeout: float) -> bytes:
        dev = self._device()
        ms = max(1, int(timeout * 1000))  # 0 would mean "wait for ever" to libusb
        try:
            dev.write(self.out_ep, request, ms)
        except usb.core.USBError as exc:
            self._forget()
            raise PrinterUnavailable(f"{self.spec}: USB write failed: {exc}") from None
        try:
            return bytes(dev.read(self.in_ep, 16, ms))[:1]
        except usb.core.USBTimeoutError:
            return b""
        except usb.core.USBError as exc:
            self._forget()
            raise PrinterUnavailable(f"{self.spec}: USB read failed: {exc}") from None

    def close(self) -> None:
        self._forget()


def _hex_id(spec: DeviceSpec, what: str, text: str) -> int:
    try:
        value = int(text, 16)
    except ValueError:
        raise spec.fail(f"usb: {what} id {text!r} is not hexadecimal (e.g. 04b8)") from None
    if not 0 <= value <= 0xFFFF or len(text) > 6:
        raise spec.fail(f"usb: {what} id {text!r} must be 0000..ffff")
    return value
