"""The hardened v2 XML codec: one error class per kind of bad body, and exact round trips."""

from __future__ import annotations

import pytest
import xmltodict
from hypothesis import given
from hypothesis import strategies as st

from pos.wechatpay import xmlcodec
from pos.wechatpay.errors import (
    BodyTooLarge,
    ForbiddenMarkup,
    MalformedXml,
    NestedElement,
    NotUtf8,
    XmlError,
)

NOTICE_BODY = """<xml>
<appid><![CDATA[wx2421b1c4370ec43b]]></appid>
<attach><![CDATA[自定义参数,原样返回]]></attach>
<cash_fee><![CDATA[1]]></cash_fee>
<device_info><![CDATA[]]></device_info>
<total_fee>1</total_fee>
<merchant_id>undocumented</merchant_id>
</xml>""".encode()


def test_decode_keeps_every_field_cdata_plain_and_empty():
    fields = xmlcodec.decode(NOTICE_BODY)
    assert fields == {
        "appid": "wx2421b1c4370ec43b",
        "attach": "自定义参数,原样返回",
        "cash_fee": "1",
        "device_info": "",
        "total_fee": "1",
        "merchant_id": "undocumented",
    }


def test_cdata_and_plain_text_are_the_same_value():
    cdata = xmlcodec.decode(b"<xml><a><![CDATA[x & <y>]]></a><b/></xml>")
    plain = xmlcodec.decode(b"<xml><a>x &amp; &lt;y&gt;</a><b></b></xml>")
    assert cdata == plain == {"a": "x & <y>", "b": ""}


def test_cdata_split_across_sections_and_mixed_with_text():
    assert xmlcodec.decode(b"<xml><a>ab<![CDATA[cd]]>ef</a></xml>") == {"a": "abcdef"}


def test_utf8_bom_is_accepted():
    assert xmlcodec.decode(b"\xef\xbb\xbf<xml><a>1</a></xml>") == {"a": "1"}


def test_whitespace_between_fields_is_not_a_value():
    assert xmlcodec.decode(b"<xml>\n  <a>1</a>\r\n  <b> 2 </b>\n</xml>\n") == {"a": "1", "b": " 2 "}


@pytest.mark.parametrize(
    "body",
    [
        # external entity (XXE): reading a local file
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<xml><a>&xxe;</a></xml>",
        # external entity over the network (blind XXE)
        b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><xml><a>1</a></xml>',
        # billion laughs: internal entities only
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b"<xml><a>&lol3;</a></xml>",
        # a bare DOCTYPE, no entities
        b"<!DOCTYPE xml><xml><a>1</a></xml>",
        # external DTD reference
        b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><a>1</a></xml>',
    ],
    ids=["xxe-file", "xxe-parameter", "billion-laughs", "doctype", "external-dtd"],
)
def test_doctype_and_entities_are_forbidden(body):
    with pytest.raises(ForbiddenMarkup):
        xmlcodec.decode(body)


def test_undeclared_entity_is_malformed_not_expanded():
    with pytest.raises(MalformedXml):
        xmlcodec.decode(b"<xml><a>&xxe;</a></xml>")


def test_body_over_64_kib_is_refused_before_parsing():
    filler = b"<a>" + b"x" * (64 * 1024) + b"</a>"
    with pytest.raises(BodyTooLarge, match="65"):
        xmlcodec.decode(b"<xml>" + filler + b"</xml>")
    exactly = b"<xml><a>" + b"x" * (64 * 1024 - 18) + b"</a></xml>"
    assert len(exactly) == 64 * 1024
    assert len(xmlcodec.decode(exactly)["a"]) == 64 * 1024 - 18
    with pytest.raises(BodyTooLarge):
        xmlcodec.decode(b"<xml><a>12345</a></xml>", max_bytes=10)


@pytest.mark.parametrize(
    "body",
    ["<xml><body>咖啡</body></xml>".encode("gb18030"), b"<xml><a>\xff</a></xml>", b"<xml><a>\xc3</a></xml>"],
    ids=["gb18030", "invalid-byte", "truncated-sequence"],
)
def test_non_utf8_is_refused(body):
    with pytest.raises(NotUtf8):
        xmlcodec.decode(body)


def test_nested_elements_are_refused():
    with pytest.raises(NestedElement, match="<b> is nested inside <a>"):
        xmlcodec.decode(b"<xml><a><b>1</b></a></xml>")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"not xml at all",
        b"<xml><a>1</a>",
        b"<xml><a>1</b></xml>",
        b"<xml><a>1</a></xml><xml></xml>",
        b"<xml>stray text<a>1</a></xml>",
        b'{"return_code": "SUCCESS"}',
    ],
    ids=["empty", "blank", "text", "unclosed", "mismatched", "two-roots", "stray-text", "json"],
)
def test_malformed_bodies(body):
    with pytest.raises(MalformedXml):
        xmlcodec.decode(body)


def test_duplicate_field_is_refused():
    with pytest.raises(MalformedXml, match="appears twice"):
        xmlcodec.decode(b"<xml><total_fee>1</total_fee><total_fee>100</total_fee></xml>")


def test_wrong_root_is_refused():
    with pytest.raises(MalformedXml, match="expected <xml>"):
        xmlcodec.decode(b"<root><a>1</a></root>")
    assert xmlcodec.decode(b"<root><a>1</a></root>", root="root") == {"a": "1"}


def test_every_error_is_an_xml_error():
    for cls in (BodyTooLarge, ForbiddenMarkup, MalformedXml, NestedElement, NotUtf8):
        assert issubclass(cls, XmlError)


def test_decode_wants_bytes():
    with pytest.raises(TypeError):
        xmlcodec.decode("<xml></xml>")  # type: ignore[arg-type]


def test_encode_writes_escaped_text_as_xmltodict_does():
    """What the till sends: plain escaped text, which WeChat documents as equal to CDATA."""
    fields = {"body": "咖啡 & <茶>", "total_fee": "1", "attach": "a]]>b", "device_info": ""}
    body = xmlcodec.encode(fields)
    assert (
        body
        == (
            "<xml><body>咖啡 &amp; &lt;茶&gt;</body><total_fee>1</total_fee>"
            "<attach>a]]&gt;b</attach><device_info></device_info></xml>"
        ).encode()
    )
    assert body == xmltodict.unparse({"xml": fields}, full_document=False).encode()
    assert xmlcodec.decode(body) == fields


def test_encode_as_wechat_cdata_and_bare():
    body = xmlcodec.encode_as_wechat({"body": "咖啡 & <茶>", "total_fee": "1"}, bare={"total_fee"})
    assert body == "<xml><body><![CDATA[咖啡 & <茶>]]></body><total_fee>1</total_fee></xml>".encode()
    assert xmlcodec.decode(body) == {"body": "咖啡 & <茶>", "total_fee": "1"}


def test_encode_as_wechat_escapes_bare_values():
    body = xmlcodec.encode_as_wechat({"a": "x<&>y"}, bare={"a"})
    assert body == b"<xml><a>x&lt;&amp;&gt;y</a></xml>"


def test_cdata_terminator_inside_a_value_round_trips():
    value = "a]]>b]]]]>c"
    assert xmlcodec.decode(xmlcodec.encode_as_wechat({"attach": value})) == {"attach": value}
    assert xmlcodec.decode(xmlcodec.encode({"attach": value})) == {"attach": value}


@pytest.mark.parametrize("write", [xmlcodec.encode, xmlcodec.encode_as_wechat])
def test_encode_refuses_bad_names_values_and_characters(write):
    with pytest.raises(ValueError, match="identifier"):
        write({"a b": "1"})
    with pytest.raises(ValueError, match="identifier"):
        write({"名": "1"})
    with pytest.raises(ValueError, match="identifier"):
        write({"a><b": "1"})
    with pytest.raises(TypeError):
        write({"total_fee": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="cannot carry"):
        write({"a": "bell\x07"})


def test_encode_with_another_root():
    assert xmlcodec.encode({"a": "1"}, root="root") == b"<root><a>1</a></root>"
    assert xmlcodec.encode_as_wechat({"a": "1"}, root="root") == b"<root><a><![CDATA[1]]></a></root>"


# Any text XML 1.0 can carry (no C0 controls except tab/newline, no surrogates, no U+FFFE/FFFF).
# A lone "\r" is normalised to "\n" by every XML parser, so it is not representable either.
xml_text = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\r\ufffe\uffff",
        min_codepoint=0x09,
    ).filter(lambda c: c in "\t\n" or c >= " "),
    max_size=40,
)
chinese = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=20)
field_names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)


@given(st.dictionaries(field_names, st.one_of(xml_text, chinese), max_size=10), st.booleans())
def test_round_trip(fields, all_bare):
    bare = set(fields) if all_bare else set()
    assert xmlcodec.decode(xmlcodec.encode_as_wechat(fields, bare=bare)) == fields
    assert xmlcodec.decode(xmlcodec.encode(fields)) == fields


@given(chinese)
def test_chinese_round_trip_in_cdata_and_plain(text):
    assert xmlcodec.decode(xmlcodec.encode({"body": text}))["body"] == text
    assert xmlcodec.decode(xmlcodec.encode_as_wechat({"body": text}))["body"] == text
    assert xmlcodec.decode(xmlcodec.encode_as_wechat({"body": text}, bare={"body"}))["body"] == text
