"""The one word catalogue: every key in every language, the same placeholders in each, one lookup."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pos
from pos.i18n import CATALOGUE, LANGUAGES, Translator, literal, placeholders, translator
from pos.i18n.states import STATE_NAMES, STATUS_BY_STATE
from pos.ledger import RefundState, SaleState

POS = Path(pos.__file__).parent


def test_every_key_has_every_language_and_nothing_else() -> None:
    missing = {key: sorted(set(LANGUAGES) - set(texts)) for key, texts in CATALOGUE.items()}
    extra = {key: sorted(set(texts) - set(LANGUAGES)) for key, texts in CATALOGUE.items()}
    assert {k: v for k, v in missing.items() if v} == {}
    assert {k: v for k, v in extra.items() if v} == {}
    assert all(text.strip() for texts in CATALOGUE.values() for text in texts.values())


def test_placeholders_match_across_languages() -> None:
    differ = {
        key: {language: sorted(placeholders(text)) for language, text in texts.items()}
        for key, texts in CATALOGUE.items()
        if len({placeholders(text) for text in texts.values()}) > 1
    }
    assert differ == {}


def test_every_word_formats_with_its_placeholders() -> None:
    for key, texts in CATALOGUE.items():
        for language in texts:
            values = dict.fromkeys(placeholders(texts[language]), "X")
            assert Translator(language)(key, **values)


def test_each_state_is_named_once_per_language_and_the_lookups_agree() -> None:
    assert set(STATE_NAMES) == {state.value for state in SaleState} | {"CLOSING"}
    assert set(STATUS_BY_STATE) == set(STATE_NAMES)
    zh, en = Translator("zh-CN"), Translator("en")
    partly = (zh.state(SaleState.PARTLY_REFUNDED), en.state("PARTLY_REFUNDED"))
    assert partly == ("部分退款", "Partly refunded")
    assert en.state(SaleState.AWAITING_PAYMENT, in_sentence=True) == "awaiting payment"
    assert zh.state("PAID", in_sentence=True) == "已支付"
    # The cashier's page says "paid" with the state's own name, not a second spelling of it.
    assert CATALOGUE["status.partly_refunded"] is STATE_NAMES["PARTLY_REFUNDED"]
    assert en.status("AWAITING_PAYMENT") == "Awaiting payment"
    assert en.status("CLOSING") == "Past deadline, closing"
    assert en.state("SOMETHING_NEW") == "SOMETHING_NEW"
    assert {en.refund_state(state) for state in RefundState} == {
        "refunded",
        "pending",
        "failed",
        "held: manager must act",
    }


def test_the_lookup_fills_placeholders_and_refuses_unknown_keys_and_languages() -> None:
    assert Translator("en")("error.no_sale", id=4) == "No sale with id 4"
    assert translator("zh-CN")("error.no_sale", id=4) == "没有编号为 4 的销售单"
    assert translator("en") is translator("en")
    with pytest.raises(KeyError):
        Translator("en")("no.such.word")
    with pytest.raises(ValueError, match="zh-CN"):
        Translator("fr")
    page = Translator("en").words("page.", "status.")
    assert page["page.charge"] == "Charge" and all(key.startswith(("page.", "status.")) for key in page)
    assert literal("请在 {hhmm} 前扫码支付") == "请在  前扫码支付"


def test_no_other_module_keeps_a_table_of_chinese_and_english_words() -> None:
    """A dict literal with both "zh-CN" and "en" keys outside pos/i18n is a second word table."""
    tables = []
    for path in POS.rglob("*.py"):
        if path.is_relative_to(POS / "i18n"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
                if {"zh-CN", "en"} <= keys:
                    tables.append(f"{path.relative_to(POS)}:{node.lineno}")
    assert tables == []
