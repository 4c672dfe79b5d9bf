"""Parse and check ``[printer] device`` strings, naming what is wrong with a bad one.

Forms (options after ``?``, joined by ``&``)::

    usb:VID:PID[?in=0x82&out=0x01&interface=0&timeout=5]   hex ids, e.g. usb:04b8:0202
    serial:/dev/ttyUSB0[?baud=19200&flow=none|rtscts|xonxoff&parity=N&bytesize=8&stopbits=1]
    tcp:HOST[:PORT][?connect_timeout=3&timeout=10]          PORT defaults to 9100; [::1]:9100 for IPv6
    file:/dev/usb/lp0                                      the kernel's usblp (write-only)
    dir:PATH                                               the virtual printer: .bin + .png per job
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pos.printing.devices.base import DeviceSpecError

KINDS = ("usb", "serial", "tcp", "file", "dir")
EXAMPLES = "usb:04b8:0202, serial:/dev/ttyUSB0?baud=19200, tcp:192.168.1.50:9100, file:/dev/usb/lp0, dir:PATH"


@dataclass(frozen=True)
class DeviceSpec:
    """A device string split into kind, target and options (values still strings)."""

    text: str
    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)

    def fail(self, problem: str) -> DeviceSpecError:
        return DeviceSpecError(f"printer device {self.text!r}: {problem}")

    def check_options(self, known: dict[str, str]) -> None:
        """Refuse options the connection does not know; ``known`` maps name -> what it means."""
        for name in self.options:
            if name not in known:
                listing = ", ".join(f"{k} ({v})" for k, v in known.items()) or "none"
                raise self.fail(f"unknown option {name!r} for {self.kind}:; known options: {listing}")

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self.fail(f"{name}={raw!r} is not a number") from None
        if not low <= value <= high:
            raise self.fail(f"{name}={raw} must be between {low:g} and {high:g}")
        return value

    def integer(self, name: str, default: int, *, low: int, high: int, base: int = 10) -> int:
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            value = int(raw, 0 if base == 0 else base)
        except ValueError:
            raise self.fail(f"{name}={raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise self.fail(f"{name}={raw} must be between {low} and {high}")
        return value


def parse_spec(text: str) -> DeviceSpec:
    """Split ``text`` into a :class:`DeviceSpec`; kind-specific checks live with each class."""
    if not isinstance(text, str) or not text.strip():
        raise DeviceSpecError(f"no printer device given; use one of {EXAMPLES}")
    text = text.strip()
    kind, sep, rest = text.partition(":")
    if not sep:
        raise DeviceSpecError(f"printer device {text!r} has no kind; use one of {EXAMPLES}")
    kind = kind.lower()
    if kind not in KINDS:
        raise DeviceSpecError(
            f"printer device {text!r}: unknown kind {kind!r}; "
            f"known kinds: {', '.join(KINDS)} (e.g. {EXAMPLES})"
        )
    target, _, query = rest.partition("?")
    options: dict[str, str] = {}
    if query:
        for part in query.split("&"):
            name, eq, value = part.partition("=")
            name = name.strip().lower()
            if not eq or not name:
                raise DeviceSpecError(f"printer device {text!r}: option {part!r} must look like name=value")
            if name in options:
                raise DeviceSpecError(f"printer device {text!r}: option {name!r} is given twice")
            options[name] = value
    if not target:
        raise DeviceSpecError(f"printer device {text!r}: nothing after '{kind}:' (e.g. {_example(kind)})")
    return DeviceSpec(text, kind, target, options)


def _example(kind: str) -> str:
    return next(e for e in EXAMPLES.split(", ") if e.startswith(kind + ":"))
