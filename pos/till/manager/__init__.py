"""The manager's pages on the till's server (``/manager``): login, the day view, CSV, Z report, refunds.

``pos.till.app.create_app`` registers :data:`bp`; the listener's app never does.
"""

from pos.till.manager.views import bp

__all__ = ["bp"]
