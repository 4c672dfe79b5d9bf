"""The printers ``pos init`` can offer: USB printers (pyusb) and serial ports (pyserial).

Both may find nothing (no printer plugged in, no libusb, a container): that is not an error,
the person then types a device string (``tcp:HOST:9100`` and friends). USB devices are
listed when one of their interfaces is of the printer class (7); ports are listed as they
are, since a serial printer cannot be told from a modem without talking to it.
"""

from __future__ import annotations

from dataclasses import dataclass

PRINTER_CLASS = 7  # USB interface class "Printer"


@dataclass(frozen=True)
class Found:
    spec: str  # a [printer] device string
    description: str


def usb_printers() -> tuple[list[Found], str]:
    """USB printers visible now, and a note when USB could not be looked at."""
    try:
        import usb.core
        import usb.util
    except ImportError:  # pragma: no cover - pyusb is a dependency
        return [], "pyusb is not installed"
    try:
        devices = list(usb.core.find(find_all=True))
    except usb.core.NoBackendError:
        return [], "libusb is not installed (apt-get install libusb-1.0-0), so USB printers cannot be listed"
    except usb.core.USBError as exc:
        return [], f"USB devices cannot be listed: {exc}"
    found = []
    for dev in devices:
        if not _is_printer(dev):
            continue
        spec = f"usb:{dev.idVendor:04x}:{dev.idProduct:04x}"
        found.append(Found(spec, _describe(dev) or spec))
    return found, ""


def _is_printer(dev) -> bool:
    if getattr(dev, "bDeviceClass", 0) == PRINTER_CLASS:
        return True
    try:
        for configuration in dev:
            for interface in configuration:
                if interface.bInterfaceClass == PRINTER_CLASS:
                    return True
    except Exception:  # usb.core.USBError and friends: a device we may not read is not offered
        return False
    return False


def _describe(dev) -> str:
    import usb.util

    words = []
    for index in (getattr(dev, "iManufacturer", 0), getattr(dev, "iProduct", 0)):
        if not index:
            continue
        try:
            words.append(usb.util.get_string(dev, index) or "")
        except Exception:  # no permission to read strings (not in group lp): the ids will do
            continue
    return " ".join(w for w in words if w)


def serial_ports() -> list[Found]:
    """Serial ports (USB adapters and built-in ones) that exist now."""
    from serial.tools import list_ports

    return [
        Found(
            f"serial:{port.device}", port.description if port.description not in ("", "n/a") else port.device
        )
        for port in sorted(list_ports.comports(), key=lambda p: p.device)
    ]


def printers() -> tuple[list[Found], list[str]]:
    """Everything a person could pick, USB first, and notes on what could not be looked at."""
    usb_found, note = usb_printers()
    return usb_found + serial_ports(), [note] if note else []
