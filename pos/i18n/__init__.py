"""One catalogue of the words people read, in the cashier's language (zh-CN by default, en).

Every person-facing word of the till, the manager's pages, slips, the reconciliation, the
use cases and the CLI lives in one key space, written in a few modules by area
(:mod:`pos.i18n.till`, :mod:`~pos.i18n.manager`, :mod:`~pos.i18n.receipts`,
:mod:`~pos.i18n.reconcile`, :mod:`~pos.i18n.orders`, :mod:`~pos.i18n.states`), and is
read through one lookup::

    t = Translator("en")
    t("error.no_sale", id=4)        # "No sale with id 4"
    t.state("PARTLY_REFUNDED")      # "Partly refunded": each state's name is written once
    t.status("AWAITING_PAYMENT")    # "Awaiting payment": the cashier's page's status line

Every key has every language and the same ``{placeholders}`` in each (a test checks), so a
lookup never falls back. This package is a leaf: it imports nothing else of ``pos``.
"""

from __future__ import annotations

from functools import cache
from string import Formatter
from typing import Any

from pos.i18n import chain, held, manager, micropay, orders, receipts, reconcile, states, till

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


def _merge(*tables: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for table in tables:
        for key, texts in table.items():
            if key in merged:
                raise ValueError(f"word {key!r} is defined twice in pos.i18n")
            merged[key] = texts
    return merged


CATALOGUE: dict[str, dict[str, str]] = _merge(
    states.WORDS,
    till.WORDS,
    manager.WORDS,
    receipts.WORDS,
    reconcile.WORDS,
    orders.WORDS,
    micropay.WORDS,
    held.WORDS,
    chain.WORDS,
)


def check_language(language: str) -> str:
    """``language`` if the catalogue speaks it, else ValueError (the config already refuses others)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {language!r}")
    return language


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` fields of ``text``."""
    return frozenset(name for _, name, _, _ in Formatter().parse(text) if name is not None)


def literal(text: str) -> str:
    """``text`` with its ``{placeholders}`` removed: what a font must be able to draw."""
    return "".join(part for part, *_ in Formatter().parse(text))


class Translator:
    """The catalogue bound to one language: ``t(key, **values)``. Cheap; :func:`translator` caches."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        self.language = check_language(language)

    def __call__(self, key: str, /, **values: Any) -> str:
        """The word ``key`` with its ``{name}`` fields filled in (KeyError for a key that is not there)."""
        text = CATALOGUE[key][self.language]
        return text.format(**values) if values else text

    def __contains__(self, key: str) -> bool:
        return key in CATALOGUE

    def state(self, state: object, *, in_sentence: bool = False) -> str:
        """A sale state's name (``已支付`` / ``Paid``); an unknown state is named by its code.

        ``in_sentence`` gives the form used inside a sentence ("Sale 4 is paid"): lower case in English.
        """
        code = str(getattr(state, "value", state))
        names = states.STATE_NAMES.get(code)
        if names is None:
            return code
        name = names[self.language]
        return name.lower() if in_sentence and self.language == "en" else name

    def refund_state(self, state: object) -> str:
        """A refund state's name (``已退款`` / ``refunded``)."""
        return self(f"refund_state.{getattr(state, 'value', state)}")

    def status(self, state: object) -> str:
        """A sale state as the cashier's page says it (``等待顾客扫码支付`` / ``Awaiting payment``)."""
        return self(f"status.{states.STATUS_BY_STATE[str(getattr(state, 'value', state))]}")

    def words(self, *prefixes: str) -> dict[str, str]:
        """Every word whose key starts with one of ``prefixes`` (all words without any), unformatted."""
        return {
            key: texts[self.language]
            for key, texts in CATALOGUE.items()
            if not prefixes or key.startswith(prefixes)
        }

    def weekday(self, index: int) -> str:
        """Monday (0) to Sunday (6), short."""
        return self("weekday").split()[index]


@cache
def translator(language: str = DEFAULT_LANGUAGE) -> Translator:
    """The one :class:`Translator` of ``language`` (for code that holds only a language's name)."""
    return Translator(language)
