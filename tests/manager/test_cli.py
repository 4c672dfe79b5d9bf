"""``pos report`` and ``pos manager set-password`` as a person runs them: subprocesses on a config file."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta

import pytest

from pos import config as pos_config
from pos import passwords
from pos.ledger import LineItem, open_ledger
from pos.manager.cli import set_password_hash_text

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def pos(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pos.cli", *args],
        input=stdin.encode(),
        capture_output=True,
        timeout=60,
        env=env,
    )


@pytest.fixture
def config_file(tmp_path, database_url):
    path = tmp_path / "pos.toml"
    path.write_text(
        f"""# the shop's config
[store]
id = "S01"
name = "演示小店"

[database]
url = "{database_url}"

[manager]
session_minutes = 20  # a comment kept as it is

[[products]]
id = "LATTE"
name = "拿铁"
price = "18.00"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def day(config_file):
    """Three sales on 2026-11-27: 36.00 paid with 10.00 refunded, 26.00 paid, 9.90 expired."""
    config = pos_config.load(config_file, env={})
    with open_ledger(config.database.url) as ledger:
        totals = []
        for items, pay in (
            ([LineItem("拿铁", 1800, 2)], True),
            ([LineItem("蛋糕", 2600)], True),
            ([LineItem("水", 990)], False),
        ):
            sale = ledger.create_sale(store="S01", lane="01", items=items, now=NOW)
            ledger.record_order(
                sale.id,
                code_url="weixin://x",
                prepay_id="wx",
                expires_at=NOW + timedelta(minutes=15),
                now=NOW,
            )
            if pay:
                ledger.mark_paid(
                    sale.out_trade_no,
                    transaction_id=f"42{sale.id:026d}",
                    total_fee=sale.total_fee,
                    time_end=NOW,
                    source="notice",
                    now=NOW,
                )
            else:
                ledger.mark_expired(sale.id, now=NOW)
            totals.append(sale)
        refund = ledger.start_refund(totals[0].id, 1000, now=NOW)
        ledger.complete_refund(refund.out_refund_no, now=NOW)
    return totals


def test_pos_report_prints_the_days_figures(config_file, day):
    result = pos("--config", str(config_file), "report", "--date", "2026-11-27")
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    assert "演示小店 营业日 2026-11-27" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert lines["部分退款"] == ["1", "￥36.00"]
    assert lines["已支付"] == ["1", "￥26.00"]
    assert lines["已过期（未支付）"] == ["1", "￥9.90"]
    assert lines["合计"] == ["3", "￥71.90"]
    assert lines["收款"][0] == "￥62.00" and lines["退款"] == ["￥10.00"] and lines["净收入"] == ["￥52.00"]


def test_pos_report_writes_the_csv(config_file, day, tmp_path):
    target = tmp_path / "day.csv"
    result = pos("--config", str(config_file), "report", "--date", "2026-11-27", "--csv", str(target))
    assert result.returncode == 0, result.stderr.decode()
    raw = target.read_bytes()
    assert f"已写入 {target}（{len(raw)} 字节）" in result.stdout.decode()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert [r[1] for r in rows[1:]] == [s.out_trade_no for s in day]
    assert [r[4:7] for r in rows[1:]] == [
        ["36.00", "10.00", "部分退款"],
        ["26.00", "0.00", "已支付"],
        ["9.90", "0.00", "已过期（未支付）"],
    ]
    to_stdout = pos("--config", str(config_file), "report", "--date", "2026-11-27", "--csv", "-")
    assert to_stdout.returncode == 0 and to_stdout.stdout == raw  # only the CSV, nothing else


def test_pos_report_refusals(config_file, day, tmp_path):
    bad_date = pos("--config", str(config_file), "report", "--date", "27.11.2026")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr.decode()
    assert b"Traceback" not in bad_date.stderr
    other = tmp_path / "other.toml"
    other.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "nowhere" / "x.sqlite3"}"\n', encoding="utf-8"
    )
    missing = pos("--config", str(other), "report")
    assert missing.returncode == 2 and "no ledger at" in missing.stderr.decode()
    assert not (tmp_path / "nowhere").exists()  # a wrong config creates nothing
    unwritable = pos("--config", str(config_file), "report", "--csv", str(tmp_path / "no" / "dir" / "x.csv"))
    assert unwritable.returncode == 2 and b"Traceback" not in unwritable.stderr


def test_set_password_writes_only_the_hash_into_the_config(config_file):
    config_file.chmod(0o644)  # as a text editor leaves it: the hash must not become world-readable
    before = config_file.read_text(encoding="utf-8")
    result = pos(
        "--config", str(config_file), "manager", "set-password", "--password-stdin", stdin="a long secret\n"
    )
    assert result.returncode == 0, result.stderr.decode()
    after = config_file.read_text(encoding="utf-8")
    assert "a long secret" not in after
    stored = pos_config.load(config_file, env={}).manager
    assert stored.session_minutes == 20 and passwords.check_password(stored.password_hash, "a long secret")
    assert stored.password_hash.startswith("scrypt:")
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert changed == [f"password_hash = '{stored.password_hash}'"]  # every other line as it was
    assert config_file.stat().st_mode & 0o777 == 0o640  # owner and the service's group; nobody else
    again = pos(
        "--config", str(config_file), "manager", "set-password", "--password-stdin", stdin="another one!\n"
    )
    assert again.returncode == 0
    stored_hash = pos_config.load(config_file, env={}).manager.password_hash
    assert passwords.check_password(stored_hash, "another one!")
    assert config_file.read_text(encoding="utf-8").count("password_hash") == 1


def test_set_password_print_and_refusals(config_file, tmp_path):
    printed = pos("manager", "set-password", "--print", "--password-stdin", stdin="printed secret\n")
    assert printed.returncode == 0
    assert passwords.check_password(printed.stdout.decode().strip(), "printed secret")
    assert "manager_password_hash" in printed.stderr.decode()
    short = pos("--config", str(config_file), "manager", "set-password", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8" in short.stderr.decode()
    env = {k: v for k, v in __import__("os").environ.items() if k != "POS_CONFIG"}
    nowhere = pos("manager", "set-password", "--password-stdin", stdin="long enough\n", env=env)
    assert nowhere.returncode == 2 and "--config" in nowhere.stderr.decode()
    missing = pos(
        "--config",
        str(tmp_path / "none.toml"),
        "manager",
        "set-password",
        "--password-stdin",
        stdin="long enough\n",
    )
    assert missing.returncode == 2 and b"Traceback" not in missing.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "\n[manager]\npassword_hash = 'H'\n"),
        ('[store]\nid = "S01"', "[store]\nid = \"S01\"\n\n[manager]\npassword_hash = 'H'\n"),
        ("[manager]\nmax_failures = 3\n", "[manager]\npassword_hash = 'H'\nmax_failures = 3\n"),
        (
            '[manager]\npassword_hash = "old"  # x\n[till]\nport = 1\n',
            "[manager]\npassword_hash = 'H'\n[till]\nport = 1\n",
        ),
        (
            '[[products]]\nid = "A"\nname = "a"\nprice = "1.00"\n',
            '[[products]]\nid = "A"\nname = "a"\nprice = "1.00"\n\n[manager]\npassword_hash = \'H\'\n',
        ),
    ],
)
def test_password_hash_edit(text, expected):
    edited = set_password_hash_text(text, "H")
    assert edited == expected
    assert tomllib.loads(edited)["manager"]["password_hash"] == "H"
