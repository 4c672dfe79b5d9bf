"""The v2 wire format: a flat ``<xml>`` document of text fields, read defensively.

WeChat mixes ``<![CDATA[...]]>`` and plain text (``<total_fee>1</total_fee>`` beside
``<cash_fee><![CDATA[1]]></cash_fee>``); both decode to the same string, and the
signature is over that decoded string, never over the CDATA markers.

Reading: expat driven by hand rather than xmltodict: we need a distinct error for each kind of
bad body (too large, not UTF-8, DOCTYPE/ENTITY, nested elements, malformed), and we must refuse a
DOCTYPE before any entity is expanded. Expat never fetches external entities; refusing the
DOCTYPE outright also stops internal-entity expansion (billion laughs).

Writing, two ways:

- :func:`encode`, the till's requests to WeChat, is ``xmltodict.unparse``: plain escaped text.
  WeChat documents that as equal to CDATA ("参数值用XML转义即可,CDATA标签用于说明数据不被XML解析器解析",
  reference wechatpay-v2.md, "XML format"), and WeChat's own Java SDK writes its requests so.
- :func:`encode_as_wechat` writes WeChat's own habit (CDATA, chosen fields bare): the listener's
  replies to notices and mode-one callbacks (in the exact form WeChat's pages show, which the
  listener's tests hold byte for byte), and what the simulator and test gateways send in WeChat's
  name, so our reader is always tested against the bytes WeChat writes. xmltodict cannot write a
  CDATA section (its writer escapes every text), so this one stays a few lines by hand.

Both check names and values first: a field name must be a plain identifier, a value a string
that XML 1.0 can carry (xmltodict would write a C0 control byte that no parser then reads).
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Mapping

import xmltodict

from pos.wechatpay.errors import (
    BodyTooLarge,
    ForbiddenMarkup,
    MalformedXml,
    NestedElement,
    NotUtf8,
    WeChatPayError,
)

MAX_BODY = 64 * 1024
_BOM = b"\xef\xbb\xbf"
# Characters XML 1.0 cannot carry at all, escaped or not (most C0 controls, lone surrogates).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Refused(WeChatPayError):
    """Raised from inside expat handlers to stop parsing at once."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def decode(body: bytes, *, max_bytes: int = MAX_BODY, root: str = "xml") -> dict[str, str]:
    """Parse a v2 message into ``{field: text}``; every child of ``<xml>`` is kept.

    An empty element gives ``""``. A field that appears twice is refused as
    malformed, since the two values could be signed one way and read another.
    ``root`` is ``"root"`` for the decrypted ``req_info`` of a refund notice.
    """
    if not isinstance(body, bytes | bytearray):
        raise TypeError("decode() takes the raw body bytes")
    if len(body) > max_bytes:
        raise BodyTooLarge(f"body is {len(body)} bytes; the limit is {max_bytes}")
    body = bytes(body)
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8(f"body is not UTF-8 (byte {exc.start})") from None
    if not body.strip():
        raise MalformedXml("body is empty")

    fields: dict[str, str] = {}
    depth = 0
    current: str | None = None
    chunks: list[str] = []

    def refuse(error: Exception) -> None:
        raise _Refused(error)

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth, current
        depth += 1
        if depth == 1:
            if name != root:
                refuse(MalformedXml(f"root element is <{name}>, expected <{root}>"))
        elif depth == 2:
            current = name
            chunks.clear()
        else:
            refuse(NestedElement(f"<{name}> is nested inside <{current}>; fields must be flat"))

    def end(name: str) -> None:
        nonlocal depth, current
        if depth == 2 and current is not None:
            if current in fields:
                refuse(MalformedXml(f"field <{current}> appears twice"))
            fields[current] = "".join(chunks)
            current = None
        depth -= 1

    def text(data: str) -> None:
        if depth == 2:
            chunks.append(data)
        elif depth == 1 and data.strip():
            refuse(MalformedXml("text directly inside <xml>"))

    def doctype(*_args: object) -> None:
        refuse(ForbiddenMarkup("DOCTYPE is not allowed in WeChat Pay messages"))

    def entity(*_args: object) -> None:
        refuse(ForbiddenMarkup("ENTITY declarations are not allowed"))

    parser = xml.parsers.expat.ParserCreate(encoding="utf-8")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = lambda *_a: refuse(ForbiddenMarkup("external entity"))
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(body, True)
    except _Refused as refused:
        raise refused.error from None
    except xml.parsers.expat.ExpatError as exc:
        reason = xml.parsers.expat.errors.messages.get(exc.code, str(exc))
        raise MalformedXml(f"not well-formed XML: {reason} at line {exc.lineno}") from None
    return fields


def _checked(fields: Mapping[str, str]) -> Mapping[str, str]:
    for name, value in fields.items():
        if not name.replace("_", "").isalnum() or not name.isascii():
            raise ValueError(f"field name {name!r} is not a plain identifier")
        if not isinstance(value, str):
            raise TypeError(f"field {name!r} must be a string, not {type(value).__name__}")
        if _NOT_XML_CHAR.search(value):
            raise ValueError(f"field {name!r} holds a character XML cannot carry")
    return fields


def encode(fields: Mapping[str, str], *, root: str = "xml") -> bytes:
    """Write ``fields`` as a flat ``<xml>`` of escaped text, in the given order (no declaration)."""
    text = xmltodict.unparse({root: dict(_checked(fields))}, full_document=False)
    return text.encode("utf-8")


def _cdata(value: str) -> str:
    # "]]>" cannot stand inside one CDATA section; split it across two.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def encode_as_wechat(
    fields: Mapping[str, str], *, bare: frozenset[str] | set[str] = frozenset(), root: str = "xml"
) -> bytes:
    """Write ``fields`` as WeChat does: values in CDATA except the names in ``bare``.

    ``bare`` mirrors WeChat's own habit (``<total_fee>1</total_fee>``); bare values
    are XML-escaped. For the simulator and test gateways, which speak in WeChat's name.
    """
    parts = [f"<{root}>"]
    for name, value in _checked(fields).items():
        if name in bare:
            body = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        else:
            body = _cdata(value)
        parts.append(f"<{name}>{body}</{name}>")
    parts.append(f"</{root}>")
    return "".join(parts).encode("utf-8")
