"""Reading what the cashier (or a script) asks for: JSON in, checked plain values out.

Every refusal is an :class:`InputError` carrying a message *key* and its values,
not text: the API turns it into ``{"error": ...}`` in the store's language. The
rules are stricter than the ledger's on purpose, so that nothing a person typed
ever reaches the ledger or WeChat as a surprise (a float price, a blank name, a
quantity of ``true``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import IntegerConverter

from pos.config import product_key
from pos.inputs import InputError
from pos.ledger import MAX_ROW_ID, LineItem
from pos.money import MAX_FEN, YUAN_SIGN, AmountTooLarge, MoneyError, max_price, parse_yuan

MAX_ITEMS = 100
MAX_NAME = 60  # a receipt line is 32-48 columns; longer names are typing accidents (checkout's limit)
MAX_BODY = 64
MAX_CASHIER = 32
MAX_QTY = 999  # checkout's limit
SALE_FIELDS = ("items", "amount", "body", "cashier")
ITEM_FIELDS = ("name", "price", "qty", "product_id")
# A sale is a few levels deep ({"items": [{...}]}); json.loads recurses once per level and a body of
# 30,000 "[" would overflow Python's stack, so depth is counted before anything is parsed.
MAX_JSON_DEPTH = 8
MAX_JSON_BYTES = 64 * 1024  # the app refuses bigger bodies first; this holds for any other caller
# The tokens that matter for depth: whole strings (their brackets are text) and the brackets themselves.
_JSON_NESTING = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """A product as the till sells it: the config's yuan string parsed once, at start-up."""

    id: str
    name: str
    price_fen: int
    barcode: str


@dataclass(frozen=True, slots=True)
class SaleRequest:
    """A checked ring-up: items (by name and price, or from the catalogue) or one amount."""

    items: tuple[LineItem, ...]
    amount_fen: int | None
    body: str | None
    cashier: str


class RowIdConverter(IntegerConverter):
    """``<id:sale_id>`` in a route: ASCII digits naming a row the ledger can hold (1..MAX_ROW_ID).

    Anything else is no such row, so the route answers 404 without asking the ledger, whose
    driver would overflow on an id beyond its column (``int`` alone also takes Unicode digits).
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=MAX_ROW_ID)


def json_depth_exceeds(raw: bytes, limit: int) -> bool:
    """True when ``raw`` nests arrays/objects deeper than ``limit`` (brackets inside strings are text).

    Malformed input is not judged here: json.loads refuses it with a better message afterwards.
    """
    depth = 0
    for match in _JSON_NESTING.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def read_json(raw: bytes, content_type: str | None) -> Mapping[str, Any]:
    """The request's JSON object; refuses other content types, bodies too big or too deeply nested
    (before parsing them), bad UTF-8/JSON and non-objects."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if mimetype != "application/json":
        raise InputError("error.not_json")
    if len(raw) > MAX_JSON_BYTES:
        raise InputError("error.too_large", status=413)
    if json_depth_exceeds(raw, MAX_JSON_DEPTH):
        raise InputError("error.too_deep", max=MAX_JSON_DEPTH)
    try:
        data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except UnicodeDecodeError:
        raise InputError("error.bad_json", detail="not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            "error.bad_json", detail=f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise InputError("error.not_object")
    return data


def parse_money(value: Any) -> int:
    """A yuan string ("12.50", "￥12.5") as fen; the InputError key says what is wrong with it."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise InputError("money.not_string")
    text = value.strip().lstrip(YUAN_SIGN).lstrip("¥").strip()
    if text.startswith("-"):
        raise InputError("money.negative")
    try:
        return parse_yuan(text)
    except AmountTooLarge:
        raise InputError("money.too_large", max=max_price()) from None
    except MoneyError:
        pass
    try:
        parse_yuan(text, allow_zero=True)
    except MoneyError:
        raise InputError("money.format") from None
    raise InputError("money.zero")  # the only amount refused without allow_zero


def _money(value: Any, key: str, **where: Any) -> int:
    try:
        return parse_money(value)
    except InputError as exc:  # "the price" + "must not be negative": the problem is translated too
        raise InputError(key, problem_key=exc.key, **exc.values, **where) from None


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if 1 <= len(text) <= limit and text.isprintable() else None


def _qty(value: Any, n: int) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QTY:
        raise InputError("error.item_qty", n=n, max=MAX_QTY)
    return value


def find_entry(catalogue: Mapping[str, CatalogueEntry], product_id: str) -> CatalogueEntry | None:
    """The catalogue's product with this id in any case (``latte`` is ``LATTE``), or None."""
    exact = catalogue.get(product_id)
    if exact is not None:
        return exact
    key = product_key(product_id)
    return next((entry for entry in catalogue.values() if product_key(entry.id) == key), None)


def _check_fields(data: Mapping[str, Any], known: Sequence[str]) -> None:
    for name in data:
        if name not in known:
            raise InputError("error.unknown_field", field=str(name)[:40], known=", ".join(known))


def parse_item(raw: Any, n: int, catalogue: Mapping[str, CatalogueEntry]) -> LineItem:
    """Item ``n`` (1-based): ``{"product_id", "qty"}`` or ``{"name", "price", "qty"}``."""
    if not isinstance(raw, dict):
        raise InputError("error.item_not_object", n=n)
    _check_fields(raw, ITEM_FIELDS)
    qty = _qty(raw.get("qty"), n)
    if "product_id" in raw:
        if "name" in raw or "price" in raw:
            raise InputError("error.item_fields", n=n)
        product_id = raw["product_id"]
        product = find_entry(catalogue, product_id) if isinstance(product_id, str) else None
        if product is None:
            raise InputError("error.unknown_product", id=str(product_id)[:40])
        return LineItem(product.name, product.price_fen, qty)
    if "name" not in raw or "price" not in raw:
        raise InputError("error.item_fields", n=n)
    name = _text(raw["name"], MAX_NAME)
    if name is None:
        raise InputError("error.item_name", n=n, max=MAX_NAME)
    price = _money(raw["price"], "error.item_price", n=n)
    return LineItem(name, price, qty)


def parse_sale(
    data: Mapping[str, Any], catalogue: Mapping[str, CatalogueEntry], default_cashier: str = ""
) -> SaleRequest:
    """A POST /api/sales body, checked whole: one sale's items or amount, body, cashier."""
    _check_fields(data, SALE_FIELDS)
    has_items, has_amount = "items" in data, "amount" in data
    if has_items == has_amount:
        raise InputError("error.items_or_amount")
    body = None
    if data.get("body") is not None:
        body = _text(data["body"], MAX_BODY)
        if body is None:
            raise InputError("error.body", max=MAX_BODY)
    cashier = default_cashier
    if data.get("cashier") is not None:
        value = data["cashier"]
        if not isinstance(value, str) or len(value.strip()) > MAX_CASHIER or not value.isprintable():
            raise InputError("error.cashier", max=MAX_CASHIER)
        cashier = value.strip()
    if has_amount:
        return SaleRequest((), _money(data["amount"], "error.amount"), body, cashier)
    raw_items = data["items"]
    if not isinstance(raw_items, list):
        raise InputError("error.items_not_list")
    if not raw_items:
        raise InputError("error.items_empty")
    if len(raw_items) > MAX_ITEMS:
        raise InputError("error.too_many_items", max=MAX_ITEMS)
    items = tuple(parse_item(raw, n, catalogue) for n, raw in enumerate(raw_items, start=1))
    total = sum(item.amount for item in items)
    if total > MAX_FEN:
        raise InputError("error.total_too_large", max=max_price())
    if total == 0:
        raise InputError("error.amount", problem_key="money.zero")
    return SaleRequest(items, None, body, cashier)
