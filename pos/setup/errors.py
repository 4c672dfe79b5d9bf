"""The root of every error ``pos init`` and the kiosk's setup raise: :class:`SetupError`."""

from __future__ import annotations


class SetupError(Exception):
    """Anything setting up a kiosk raises (a refused answer, a file that already exists)."""


class Refused(SetupError):
    """``pos init`` will not write: a bad flag, no usable answer, a file already there."""
