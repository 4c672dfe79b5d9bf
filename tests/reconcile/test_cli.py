"""`pos reconcile` as a real subprocess against the simulator and a SQLite ledger: output and exit codes."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from pos.ledger.reconciliation import latest_reconciliation

POS = str(Path(sys.executable).parent / "pos")


def write_config(
    shop, path: Path, *, api_base: str | None = None, language: str = "zh-CN", extra: str = ""
) -> Path:
    merchant = shop.config.merchant
    path.write_text(
        f"""
[merchant]
appid = "{merchant.appid}"
mch_id = "{merchant.mch_id}"
api_key = "{merchant.api_key}"
api_base = "{api_base or merchant.api_base}"
timeout = 5

[store]
id = "S01"
language = "{language}"
{extra}

[database]
url = "{shop.config.database.url}"
""",
        encoding="utf-8",
    )
    return path


def pos(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process."""
    return subprocess.run([POS, *args], capture_output=True, text=True, timeout=timeout)


def pos_here(capsys, *args: str) -> subprocess.CompletedProcess[str]:
    """The same command line through pos.cli.main in this process (cheaper; the exit codes are
    checked as a real subprocess above)."""
    from pos.cli import main

    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse refusing the command line
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out.out, out.err)


def test_a_matching_day_exits_0(shop_today, tmp_path):
    shop = shop_today
    shop.pay_by_notice(shop.ring_up(1800))
    config = write_config(shop, tmp_path / "pos.toml")
    done = pos("--config", str(config), "reconcile", "--date", shop.day.isoformat())
    assert done.returncode == 0, done.stderr
    assert "对账相符" in done.stdout and "Traceback" not in done.stderr
    assert latest_reconciliation(shop.ledger, shop.day).status == "matched"


def test_differences_exit_1_and_list_each_out_trade_no(shop_today, tmp_path, capsys):
    shop = shop_today
    missed = shop.ring_up(2600)
    shop.pay_silently(missed)
    tampered = shop.pay_by_notice(shop.ring_up(1800))
    shop.sql("UPDATE sales SET total_fee = 1500 WHERE id = :id", id=tampered.id)
    config = write_config(shop, tmp_path / "pos.toml", language="en")
    # --config after the sub-command works too, and --print queues the slip
    done = pos("reconcile", "--config", str(config), "--date", shop.day.isoformat(), "--print")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{shop.day}: 2 difference(s)")
    assert any(missed.out_trade_no in line and "paid_at_wechat_only" in line for line in lines)
    assert any(tampered.out_trade_no in line and "amount" in line and "￥15.00" in line for line in lines)
    assert "queued for printing" in lines[-1]
    result = latest_reconciliation(shop.ledger, shop.day)
    assert shop.ledger.unfinished_jobs()[-1].payload == {
        "business_date": str(shop.day),
        "reconciliation": result.id,
    }
    # the missed payment is fixed now; the tampered amount is still there
    again = pos_here(capsys, "--config", str(config), "reconcile", "--date", shop.day.isoformat())
    assert again.returncode == 1
    assert missed.out_trade_no not in again.stdout and tampered.out_trade_no in again.stdout


def test_a_day_without_trade_exits_0(shop_today, tmp_path, capsys):
    config = write_config(shop_today, tmp_path / "pos.toml")
    done = pos_here(
        capsys,
        "--config",
        str(config),
        "reconcile",
        "--date",
        (shop_today.day - timedelta(days=3)).isoformat(),
    )
    assert done.returncode == 0, done.stderr
    assert "没有账单" in done.stdout


@pytest.mark.parametrize("sim", [{"bill_creating": True}], indirect=True)
def test_a_bill_not_ready_exits_3(shop_today, tmp_path, capsys):
    shop_today.pay_by_notice(shop_today.ring_up(1800))
    config = write_config(shop_today, tmp_path / "pos.toml")
    done = pos_here(capsys, "--config", str(config), "reconcile", "--date", shop_today.day.isoformat())
    assert done.returncode == 3, done.stdout + done.stderr
    assert "尚未生成" in done.stdout


def test_wechat_unreachable_exits_3(shop_today, tmp_path):
    config = write_config(shop_today, tmp_path / "pos.toml", api_base="http://127.0.0.1:9")
    done = pos("--config", str(config), "reconcile", "--date", shop_today.day.isoformat())
    assert done.returncode == 3
    assert "无法连接微信支付" in done.stdout and "Traceback" not in done.stderr


def test_yesterday_is_the_default(shop_today, tmp_path, capsys):
    config = write_config(shop_today, tmp_path / "pos.toml")
    done = pos_here(capsys, "--config", str(config), "reconcile")
    assert done.returncode == 0, done.stderr
    from zoneinfo import ZoneInfo

    yesterday = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
    assert done.stdout.startswith(f"{yesterday} ") or done.stdout.startswith(
        f"{yesterday - timedelta(days=1)} "
    )


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--date", "2026-13-01"], "not a date"),
        (["--date", "yesterday"], "not a date"),
        (["--date", (date.today() + timedelta(days=3)).isoformat()], "has not happened yet"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(shop_today, tmp_path, args, problem, capsys):
    config = write_config(shop_today, tmp_path / "pos.toml")
    done = pos_here(capsys, "--config", str(config), "reconcile", *args)
    assert done.returncode == 2
    assert problem in done.stderr and "Traceback" not in done.stderr


def test_configuration_errors_exit_2(shop_today, tmp_path, capsys):
    missing = pos("--config", str(tmp_path / "nope.toml"), "reconcile")
    assert missing.returncode == 2 and "nope.toml" in missing.stderr
    bad = write_config(shop_today, tmp_path / "bad.toml", extra='timezone = "Mars/Olympus"')
    done = pos_here(capsys, "--config", str(bad), "reconcile")
    assert done.returncode == 2 and "timezone" in done.stderr and "Traceback" not in done.stderr
    nodb = tmp_path / "nodb.toml"
    nodb.write_text(
        write_config(shop_today, tmp_path / "x.toml")
        .read_text()
        .replace(shop_today.config.database.url, "nosuch://x"),
        encoding="utf-8",
    )
    done = pos_here(capsys, "--config", str(nodb), "reconcile")
    assert done.returncode == 2 and "[database] url" in done.stderr and "Traceback" not in done.stderr
