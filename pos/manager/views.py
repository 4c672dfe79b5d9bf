"""The manager's pages on the till's server, gathered on one blueprint (:data:`bp`).

Every URL is under ``/manager``. Importing this module registers every page: sign-in
(:mod:`.signin`), the day (:mod:`.dayview`) and the manager's actions (:mod:`.actions`), all on
the blueprint of :mod:`.blueprint`. The listener (the internet-facing process) never registers
this blueprint.
"""

from __future__ import annotations

from pos.manager import actions, chainview, dayview, signin
from pos.manager.blueprint import bp

__all__ = ["actions", "bp", "chainview", "dayview", "signin"]
