"""The manager's pages on the till's server (``/manager``): login, the day view, CSV, Z report, refunds.

``pos.till.app.create_app`` registers :data:`bp`; the listener's app never does.
"""

from pos.lazy import lazy_exports

# Loaded when first asked for: ``pos.manager.cli`` lives in this package and must import
# without Flask, for ``pos --help`` (see pos/cli.py and pos/lazy.py).
__getattr__ = lazy_exports(__name__, {"bp": "pos.manager.views"})

__all__ = ["bp"]
