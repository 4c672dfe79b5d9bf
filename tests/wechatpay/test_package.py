"""The package surface: exported names, no submodule shadowed, and the small value helpers."""

from __future__ import annotations

import types
from datetime import UTC, datetime, timedelta, timezone

import pytest

import pos.wechatpay as wechatpay
from pos.wechatpay import errors, fields, times


def test_exports_resolve():
    for name in wechatpay.__all__:
        assert getattr(wechatpay, name) is not None, name


@pytest.mark.parametrize(
    "module",
    ["sign", "xmlcodec", "errors", "client", "notices", "modeone", "bills", "times", "fields", "testing"],
)
def test_submodules_are_not_shadowed_by_exported_functions(module):
    __import__(f"pos.wechatpay.{module}")
    assert isinstance(getattr(wechatpay, module), types.ModuleType)


def test_every_error_is_a_wechatpay_error():
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, errors.WeChatPayError)
    assert issubclass(errors.NoBill, errors.ProtocolFail) and issubclass(
        errors.BillNotReady, errors.ProtocolFail
    )
    assert issubclass(errors.TransportTimeout, errors.TransportError)


def test_error_tree_docstring_names_every_class():
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.WeChatPayError):
            assert value.__name__ in errors.__doc__, value.__name__


def test_compact_times_are_beijing():
    utc = datetime(2024, 1, 1, 16, 30, tzinfo=UTC)
    assert times.to_compact(utc) == "20240102003000"
    assert times.parse_compact("20240102003000") == utc
    assert (
        times.to_compact(datetime(2024, 1, 2, 0, 30, tzinfo=timezone(timedelta(hours=8)))) == "20240102003000"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        times.to_compact(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        times.to_spaced(datetime(2024, 1, 1))


@pytest.mark.parametrize("text", ["2024010212000", "2024-01-02 12:00", "20241302120000", "2024010212000x"])
def test_bad_compact_times(text):
    with pytest.raises(errors.InvalidField, match="time_end"):
        times.parse_compact(text, "time_end")


def test_spaced_times():
    assert times.parse_spaced("2024-01-02 00:30:00") == datetime(2024, 1, 1, 16, 30, tzinfo=UTC)
    assert times.parse_spaced("2014-11-10 16：33：45").minute == 33
    assert times.to_spaced(datetime(2024, 1, 1, 16, 30, tzinfo=UTC)) == "2024-01-02 00:30:00"
    with pytest.raises(errors.InvalidField):
        times.parse_spaced("yesterday")


def test_fen_fields():
    assert fields.fen({"total_fee": "1250"}, "total_fee") == 1250
    assert fields.optional_fen({"cash_fee": ""}, "cash_fee") is None
    assert fields.optional_fen({}, "cash_fee") is None
    for bad in ("12.50", "-1", "1e3", " 1", "１"):
        with pytest.raises(errors.InvalidField, match="total_fee"):
            fields.fen({"total_fee": bad}, "total_fee")
    with pytest.raises(errors.InvalidField, match="missing"):
        fields.required({}, "transaction_id")
