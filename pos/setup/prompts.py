"""Asking a person, or a script, for ``pos init``'s answers.

Why not plain ``input()`` and ``getpass()``: getpass reads the terminal, not stdin, so an
install script that pipes the answers in would hang on the API key, and a test could not
feed it. Here the source is injectable: on a terminal, ``input`` and ``getpass`` (the key is
not echoed); otherwise, lines from the given stream (a pipe echoes nothing, and the key is
never written back). An answer that the setting's check refuses is asked again, naming the
setting and what is wrong; a stream that ends before an answer stops the command.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from pos.setup.errors import SetupError

MAX_TRIES = 5

# A check takes the raw answer and returns (value, problem); problem is None when fine.
Checker = Callable[[str], tuple[str, str | None]]


class NoAnswer(SetupError):
    """The person (or the script) gave no usable answer; the message names the setting."""


class Prompter:
    """Questions on ``out``, answers from ``source`` (a terminal or a pipe)."""

    def __init__(self, source: TextIO | None = None, out: TextIO | None = None) -> None:
        self.source = source or sys.stdin
        self.out = out or sys.stdout
        self.menu: dict[str, str] = {}  # numbered choices offered for the question being asked
        try:
            self.on_terminal = self.source.isatty()
        except (AttributeError, ValueError):
            self.on_terminal = False

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def _line(self, prompt: str, *, secret: bool) -> str:
        if self.on_terminal:
            try:
                return getpass.getpass(prompt) if secret else input(prompt)
            except EOFError:
                raise NoAnswer("the input ended") from None
        self.out.write(prompt)
        self.out.flush()
        line = self.source.readline()
        if not line:
            raise NoAnswer("the input ended")
        if not secret:  # a pipe shows nothing: repeat the answer so a log of the session reads
            self.out.write(line if line.endswith("\n") else line + "\n")
        else:
            self.out.write("\n")
        return line.rstrip("\r\n")

    def ask(
        self, question: str, check: Checker, *, setting: str, default: str = "", secret: bool = False
    ) -> str:
        """Ask until ``check`` accepts the answer (at most MAX_TRIES times); an empty answer
        takes ``default`` when there is one."""
        shown = f" [{default}]" if default and not secret else ""
        for _ in range(MAX_TRIES):
            try:
                raw = self._line(f"{question}{shown}: ", secret=secret).strip()
            except NoAnswer:
                raise NoAnswer(f"{setting}: no answer (the input ended)") from None
            if not raw and default:
                raw = default
            value, problem = check(raw)
            if problem is None:
                return value
            self.say(f"  {setting} {problem}; please try again")
        raise NoAnswer(f"{setting}: no acceptable answer after {MAX_TRIES} tries")

    def confirm(self, question: str, *, default: bool = True) -> bool:
        hint = "Y/n" if default else "y/N"
        for _ in range(MAX_TRIES):
            try:
                raw = self._line(f"{question} [{hint}]: ", secret=False).strip().lower()
            except NoAnswer:
                return False
            if not raw:
                return default
            if raw in ("y", "yes", "是"):
                return True
            if raw in ("n", "no", "否"):
                return False
            self.say("  please answer y or n")
        return False
