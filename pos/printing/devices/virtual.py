"""``dir:PATH``: a printer that exists only on disk, for the demo, tests and a till without one.

Each job becomes ``PATH/<job>.bin`` (the exact bytes a real printer would get) and
``PATH/<job>.png`` (the preview of those bytes), and one JSON line appended to
``PATH/jobs.jsonl``::

    {"job": "J42", "kind": "receipt", "out_trade_no": "S01-01-...", "bytes": 1234,
     "time": "2026-01-02T03:04:05.678+00:00", "bin": "J42.bin", "png": "J42.png"}

The line is written last, so a job listed in ``jobs.jsonl`` has both of its files. A job id
that was printed before gets a ``-2``, ``-3`` ... suffix: a reprint never overwrites.

Each file appears whole (written under a temporary name, then renamed), and the ``.bin``
appears first, as soon as its bytes are complete: the moment a real printer would have
them. Making the files durable (``fsync`` of both, then of the folder) follows the preview,
before the journal line, and :meth:`write` returns only after all of it, so the spooler
marks a job done only when its files are on disk. Deferring the ``fsync`` by those few
milliseconds costs no guarantee: if the machine loses power between the rename and the
``fsync``, the ``.bin`` may come back empty, but that job is neither in the journal nor
marked done, so the next start prints it again (as ``<job>-2.bin``), as a real printer
that lost a job at power-off would need.

To rehearse failures without hardware, write one word into ``PATH/state``: ``online``
(the default), ``paper-near-end``, ``paper-out``, ``cover-open``, ``offline`` (what the
status check reports), or ``unavailable`` (writes fail with :class:`PrinterUnavailable`
and status says "offline", as an unplugged printer would).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pos.printing.devices.base import PrinterDevice, PrinterUnavailable, PrintJob
from pos.printing.devices.spec import DeviceSpec

if TYPE_CHECKING:
    from pos.printing.fonts import Font

STATES = ("online", "paper-near-end", "paper-out", "cover-open", "offline", "unavailable")
_SAFE = re.compile(r"[^0-9A-Za-z._-]+")


class DirPrinter(PrinterDevice):
    kind = "dir"
    virtual = True

    def __init__(self, spec: DeviceSpec, *, width_dots: int = 576, font: Font | None = None):
        super().__init__(spec.text)
        spec.check_options({})
        self.path = Path(spec.target)
        self.width_dots = width_dots
        self.font = font
        self._lock = threading.Lock()
        self._counter = 0

    @property
    def journal(self) -> Path:
        return self.path / "jobs.jsonl"

    def simulated_state(self) -> str:
        """The word in ``PATH/state`` (``online`` when there is none); unknown words read as given."""
        try:
            word = (self.path / "state").read_text(encoding="utf-8").strip().lower()
        except (FileNotFoundError, NotADirectoryError):
            return "online"
        except OSError as exc:
            return f"unreadable state file: {exc.strerror}"
        return word or "online"

    def _job_name(self, job: PrintJob) -> str:
        if job.job_id:
            base = _SAFE.sub("_", job.job_id).strip("._") or "job"
        else:
            self._counter += 1
            base = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{os.getpid()}-{self._counter}"
        name, n = base, 1
        while (self.path / f"{name}.bin").exists():
            n += 1
            name = f"{base}-{n}"
        return name

    def _write_job(self, job: PrintJob) -> int:
        if self.simulated_state() == "unavailable":
            raise PrinterUnavailable(f"{self.spec}: the virtual printer is set to 'unavailable' (state file)")
        with self._lock:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                name = self._job_name(job)
                written = [_write_atomically(self.path / f"{name}.bin", job.data)]
                png = self._preview(name, job.data)
                if png is not None:
                    written.append(self.path / png)
                _make_durable(written, self.path)
                record = {
                    "job": job.job_id or name,
                    "kind": job.kind,
                    "out_trade_no": job.out_trade_no,
                    "bytes": len(job.data),
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "bin": f"{name}.bin",
                    "png": png,
                }
                with self.journal.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise PrinterUnavailable(
                    f"{self.spec}: cannot write the job: {exc.strerror or exc}"
                ) from None
        return len(job.data)

    def _preview(self, name: str, data: bytes) -> str | None:
        """Write ``name.png``; a preview that fails must not fail the job (the bytes are kept)."""
        from pos.printing.preview import render_png

        try:
            where = {"font_path": self.font.path, "font_index": self.font.index} if self.font else {}
            png = render_png(data, width_dots=self.width_dots, **where)
        except Exception as exc:
            (self.path / f"{name}.preview-error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
            return None
        _write_atomically(self.path / f"{name}.png", png)
        return f"{name}.png"

    def jobs(self) -> list[dict]:
        """The journal, oldest first (a convenience for tests and the demo)."""
        try:
            lines = self.journal.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]


def _write_atomically(path: Path, data: bytes) -> Path:
    """``path`` appears with all of ``data`` or not at all (a rename); not yet durable, see
    :func:`_make_durable`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return path


def _make_durable(paths: list[Path], folder: Path) -> None:
    """fsync each file, then the folder holding their new names (where the system allows it)."""
    for path in paths:
        with open(path, "r+b") as fh:
            os.fsync(fh.fileno())
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
