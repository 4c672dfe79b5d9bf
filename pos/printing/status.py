"""Real-time printer status with ``DLE EOT``, where "no answer" means *unknown*, never "fine".

Why our own code rather than python-escpos's ``is_online()``/``paper_status()``: in 3.1 a
printer that does not answer reads as "paper adequate" over serial, a network printer makes
them wait 60 s, USB waits for ever, and write-only connections raise (escpos.md §0.4). Here
every question has a short timeout, every answer is checked (one byte with the fixed bits
``0xx1xx10``), and what cannot be known is reported as :attr:`PrinterState.UNKNOWN`.

The questions (Epson ESC/POS ``DLE EOT n``):

- n=1 printer status: bit 3 = offline.
- n=2 offline cause: bit 2 = cover open, bit 5 = stopped at paper end, bit 6 = error.
- n=4 roll paper sensor: bits 2-3 = paper near end, bits 5-6 = paper end.

A printer that answers n=1 but not n=4 is *unknown* (its paper could be out). Status is a
snapshot: a job sent a moment later may still sit in a printer whose paper just ran out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pos.printing.devices import PrinterDevice, PrinterUnavailable, StatusNotReadable

DLE_EOT = b"\x10\x04"


class PrinterState(StrEnum):
    ONLINE = "online"
    PAPER_NEAR_END = "paper near end"
    PAPER_OUT = "paper out"
    COVER_OPEN = "cover open"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said, as one state plus a sentence for people and logs."""

    state: PrinterState
    detail: str = ""
    virtual: bool = False
    replies: dict[int, int | None] = field(default_factory=dict, compare=False)

    @property
    def can_print(self) -> bool:
        """True when a job sent now should come out (online, or online with the roll nearly done)."""
        return self.state in (PrinterState.ONLINE, PrinterState.PAPER_NEAR_END)

    def __str__(self) -> str:
        text = f"{self.state}{' (virtual)' if self.virtual else ''}"
        return f"{text}: {self.detail}" if self.detail else text


def is_valid_reply(byte: int | None) -> bool:
    """A DLE EOT answer has bit 0 = 0, bit 1 = 1, bit 4 = 1, bit 7 = 0."""
    return byte is not None and byte & 0x93 == 0x12


def interpret(replies: dict[int, int | None], *, timeout: float = 0.0) -> PrinterStatus:
    """The status that answers to DLE EOT 1, 2 and 4 (None = no answer) add up to.

    Pure, so every combination is easy to test; :func:`check_status` asks the questions.
    """
    r1, r2, r4 = replies.get(1), replies.get(2), replies.get(4)
    if r1 is None:
        return PrinterStatus(
            PrinterState.UNKNOWN, f"no answer to DLE EOT 1 within {timeout:g} s", replies=replies
        )
    if not is_valid_reply(r1):
        return PrinterStatus(PrinterState.UNKNOWN, f"not a status byte: {r1:#04x}", replies=replies)
    paper_out = is_valid_reply(r4) and bool(r4 & 0x60)
    if r1 & 0x08:
        if is_valid_reply(r2):
            if r2 & 0x04:
                return PrinterStatus(PrinterState.COVER_OPEN, "close the printer's cover", replies=replies)
            if r2 & 0x20 or paper_out:
                return PrinterStatus(PrinterState.PAPER_OUT, "put in a new paper roll", replies=replies)
            if r2 & 0x40:
                return PrinterStatus(
                    PrinterState.OFFLINE,
                    "the printer reports an error (switch it off and on)",
                    replies=replies,
                )
        if paper_out:
            return PrinterStatus(PrinterState.PAPER_OUT, "put in a new paper roll", replies=replies)
        return PrinterStatus(PrinterState.OFFLINE, "the printer says it is offline", replies=replies)
    if r4 is None:
        return PrinterStatus(
            PrinterState.UNKNOWN,
            f"online, but no answer about paper (DLE EOT 4) within {timeout:g} s",
            replies=replies,
        )
    if not is_valid_reply(r4):
        return PrinterStatus(
            PrinterState.UNKNOWN, f"online, but paper answer {r4:#04x} is not valid", replies=replies
        )
    if paper_out:
        return PrinterStatus(PrinterState.PAPER_OUT, "put in a new paper roll", replies=replies)
    if r4 & 0x0C:
        return PrinterStatus(
            PrinterState.PAPER_NEAR_END, "the paper roll is nearly finished", replies=replies
        )
    return PrinterStatus(PrinterState.ONLINE, replies=replies)


_VIRTUAL = {
    "online": PrinterState.ONLINE,
    "paper-near-end": PrinterState.PAPER_NEAR_END,
    "paper-out": PrinterState.PAPER_OUT,
    "cover-open": PrinterState.COVER_OPEN,
    "offline": PrinterState.OFFLINE,
    "unavailable": PrinterState.OFFLINE,
}


def check_status(device: PrinterDevice, *, timeout: float = 0.5, supported: bool = True) -> PrinterStatus:
    """Ask ``device`` how it is, spending at most about ``3 * timeout`` seconds.

    :param supported: the printer profile's ``status`` flag; a printer that does not speak
        DLE EOT is not asked (its silence would only cost time) and reads as unknown.
    """
    if device.virtual:
        word = device.simulated_state() or "online"
        state = _VIRTUAL.get(word)
        if state is None:
            return PrinterStatus(PrinterState.UNKNOWN, f"state file says {word!r}", virtual=True)
        detail = "set to 'unavailable' by its state file" if word == "unavailable" else ""
        return PrinterStatus(state, detail, virtual=True)
    if not device.can_read:
        return PrinterStatus(
            PrinterState.UNKNOWN, f"a {device.kind}: device cannot read the printer's answers"
        )
    if not supported:
        return PrinterStatus(
            PrinterState.UNKNOWN, "the printer profile says this printer does not report status"
        )
    replies: dict[int, int | None] = {}
    try:
        replies[1] = _ask(device, 1, timeout)
        if is_valid_reply(replies[1]):
            if replies[1] & 0x08:  # type: ignore[operator]
                replies[2] = _ask(device, 2, timeout)
            replies[4] = _ask(device, 4, timeout)
    except PrinterUnavailable as exc:
        return PrinterStatus(PrinterState.OFFLINE, f"unreachable: {exc}", replies=replies)
    except StatusNotReadable as exc:
        return PrinterStatus(PrinterState.UNKNOWN, str(exc), replies=replies)
    return interpret(replies, timeout=timeout)


def _ask(device: PrinterDevice, n: int, timeout: float) -> int | None:
    reply = device.query(DLE_EOT + bytes([n]), timeout=timeout)
    return reply[0] if reply else None
