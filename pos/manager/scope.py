"""What a signed-in manager may see: one store, or the whole chain.

Two passwords, two scopes, one login form. ``[manager] password_hash`` signs a store's manager in
for the store of the till that serves the pages (``[store] id``); ``[manager]
chain_password_hash`` (``pos manager set-password --chain``) signs the chain's manager in for
every store of the ledger. The session keeps its scope (:attr:`ManagerSession.chain`); nothing a
browser sends can widen it.

A day page shows the store :func:`shown_store` says: a store's manager always their own (asking
for another store, or for all of them, is answered 404 and shows nothing: not even whether that
store exists); the chain's manager the store asked for with ``?store=``, which the session
remembers (:attr:`ManagerSession.viewing`) so that the day page's own links (another day, a
filter, the next page) stay on that store. The page names the store it shows.
"""

from __future__ import annotations

from flask import abort, g, request

from pos.ledger.identifiers import STORE_ID_PATTERN
from pos.manager.blueprint import page_error, till, words

ALL = "*"  # ?store=*: every store (the chain's CSV); never a store id, which is letters and digits


def is_chain() -> bool:
    """True for a session signed in with the chain's password."""
    session = g.get("manager_session")
    return bool(session is not None and session.chain)


def own_store() -> str:
    return till().config.store.id


def require_chain() -> None:
    """Refuse (403) a page only the chain's manager may see."""
    if not is_chain():
        abort(page_error(403, words()("chain.only")))


def may_see(store: str) -> bool:
    """May this session see ``store``'s sales?"""
    return is_chain() or store == own_store()


def shown_store(*, allow_all: bool = False) -> str:
    """The store the day pages show (see the module docstring); ``ALL`` only when ``allow_all``
    and the session is the chain's. Anything else is refused with a 4xx page, never a 5xx."""
    session = g.manager_session
    asked = request.args.get("store")
    if asked is None or asked == "":
        return (session.viewing or own_store()) if session.chain else own_store()
    if not session.chain:
        if asked != own_store():
            abort(page_error(404, words()("chain.no_such_store")))
        return asked
    if asked == ALL and allow_all:
        return ALL
    if not STORE_ID_PATTERN.fullmatch(asked):
        abort(page_error(400, words()("chain.bad_store")))
    session.viewing = "" if asked == own_store() else asked
    return asked
