"""The root of every error the till's package raises: :class:`TillError`.

Kept apart from :mod:`pos.till.errors` (the web app's error handlers, which import Flask) so the
spooler, the watcher and the command-line tools can name it without loading a web framework.
"""

from __future__ import annotations

from pos.config import ConfigError


class TillError(Exception):
    """Anything the till (its API's input checks, refunds, rendering jobs, the spooler) raises."""


class SpoolerConfigError(TillError, ConfigError):
    """The spooler cannot start with this ``[printer]`` section; the message says what to change."""
