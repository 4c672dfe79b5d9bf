"""The cashier's page and the on-screen QR, served by waitress on loopback like the real till.

The QR check is independent of the code that drew it: the SVG's path is parsed
back into squares, painted into a bitmap with Pillow, and read by zxing-cpp; the
module grid is also compared with qrcode's own matrix for the code_url at level M.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import qrcode
import qrcode.constants
import zxingcpp
from PIL import Image, ImageDraw

from pos.sandbox.testing import running_simulator
from pos.testing.system import system_tool
from pos.till.app import CONTENT_SECURITY_POLICY
from pos.till.testing import running_till, till_config

SVG = "{http://www.w3.org/2000/svg}"
SQUARE = re.compile(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H([\d.]+)z")


@pytest.fixture
def sim():
    with running_simulator() as running:
        yield running


@pytest.fixture
def till(database, sim, tmp_path):
    with running_till(till_config(tmp_path, sim, database=database.config), workers=False) as running:
        yield running


def svg_modules(svg_text: str) -> tuple[int, set[tuple[int, int]]]:
    """The SVG's size in modules and the dark modules its path paints (each one unit square)."""
    root = ET.fromstring(svg_text)
    assert root.tag == f"{SVG}svg"
    _, _, width, height = (Decimal(v) for v in root.get("viewBox").split())
    assert width == height
    dark = set()
    paths = root.findall(f"{SVG}path")
    assert len(paths) == 1
    commands = paths[0].get("d")
    squares = SQUARE.findall(commands)
    assert "".join(f"M{a},{b}H{c}V{d}H{e}z" for a, b, c, d, e in squares) == commands  # nothing else drawn
    for x0, y0, x1, y1, x_back in squares:
        x0, y0, x1, y1 = (Decimal(v) for v in (x0, y0, x1, y1))
        assert x1 - x0 == 1 and y1 - y0 == 1 and Decimal(x_back) == x0
        dark.add((int(x0), int(y0)))
    return int(width), dark


def paint(size: int, dark: set[tuple[int, int]], scale: int = 8) -> Image.Image:
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y in dark:
        draw.rectangle([x * scale, y * scale, (x + 1) * scale - 1, (y + 1) * scale - 1], fill=0)
    return image


def test_qr_svg_decodes_back_to_the_code_url(till):
    sale = till.http.post(till.url("/api/sales"), json={"amount": "12.50"}).json()
    response = till.http.get(till.url(sale["qr_svg_url"]))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/svg+xml; charset=utf-8"
    size, dark = svg_modules(response.text)
    decoded = zxingcpp.read_barcodes(paint(size, dark))
    assert [(b.format, b.text) for b in decoded] == [(zxingcpp.BarcodeFormat.QRCode, sale["code_url"])]
    assert decoded[0].ec_level == "M"
    # The same grid qrcode computes for the code_url at level M, inside a 4-module quiet zone.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(sale["code_url"])
    code.make(fit=True)
    matrix = code.get_matrix()
    assert size == len(matrix)
    assert dark == {(x, y) for y, row in enumerate(matrix) for x, on in enumerate(row) if on}
    assert not any(x < 4 or y < 4 or x >= size - 4 or y >= size - 4 for x, y in dark)


def test_qr_svg_fits_the_page(till):
    sale = till.http.post(till.url("/api/sales"), json={"amount": "1.00"}).json()
    root = ET.fromstring(till.http.get(till.url(sale["qr_svg_url"])).text)
    assert root.get("width") is None and root.get("height") is None  # sized by the page's CSS
    assert root.get("class") == "qr" and root.get("aria-label") == sale["out_trade_no"]
    assert root.find(f"{SVG}rect").get("fill") == "white"  # a light background under the dark modules


def test_page_renders_in_chinese(till):
    response = till.http.get(till.url("/"))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    html = response.text
    assert '<html lang="zh-CN">' in html
    for words in ("收银台", "收款", "今日销售", "作废", "补打小票", "演示小店", "打印机状态未知"):
        assert words in html
    # the catalogue as big buttons, prices in yuan with the full-width sign
    assert re.search(
        r'data-id="LATTE">\s*<span class="name">拿铁</span><span class="price">￥18.00</span>', html
    )
    assert "Charge" not in html


def test_page_renders_in_english(database, sim, tmp_path):
    with running_till(
        till_config(tmp_path, sim, database=database.config, language="en"), workers=False
    ) as till:
        html = till.http.get(till.url("/")).text
    assert '<html lang="en">' in html
    for words in ("Charge", "Today&#39;s sales", "Void", "Reprint", "Printer state unknown"):
        assert words in html
    assert "收款" not in html


def test_page_needs_nothing_from_the_network(till):
    response = till.http.get(till.url("/"))
    html = response.text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no CDN, no external link
    assert "<script>" not in html  # only data blocks inline; the script is a local file
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    for path in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
        asset = till.http.get(till.url(path))
        assert asset.status_code == 200 and asset.content
        assert not re.search(rb"https?://", asset.content)
    assert {p.rsplit("/", 1)[1] for p in re.findall(r'"(/static/[^"]+)"', html)} == {
        "cashier.css",
        "cashier.js",
    }


def test_page_data_blocks_carry_words_and_products(till):
    import json

    html = till.http.get(till.url("/")).text
    blocks = dict(
        re.findall(r'<script id="(till-[a-z]+)" type="application/json">(.*?)</script>', html, re.S)
    )
    words = json.loads(blocks["till-words"])
    assert (
        words["page.unknown_barcode"] == "未知条码：{code}" and words["status.awaiting"] == "等待顾客扫码支付"
    )
    products = json.loads(blocks["till-products"])
    assert [(p["id"], p["barcode"], p["price_fen"]) for p in products] == [
        ("LATTE", "6901234567892", 1800),
        ("TEA", "6920000000017", 1250),
        ("CAKE", None, 2600),
    ]


def test_product_names_are_escaped(database, sim, tmp_path):
    from pos.config import Product

    evil = Product(id="X1", name="<script>alert(1)</script>", price="1.00")
    with running_till(
        till_config(tmp_path, sim, database=database.config, products=(evil,)), workers=False
    ) as till:
        html = till.http.get(till.url("/")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the button
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in html  # the JSON block


def test_unknown_page_is_a_plain_404(till):
    response = till.http.get(till.url("/nothing"))
    assert response.status_code == 404 and response.text.strip() == "没有这个地址"


# -- the page in a real browser (headless Chromium) -------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "till"


def screenshot(url: str, name: str, profile: Path, size: str = "1024,768") -> Image.Image:
    """Load ``url`` in headless Chromium (scripts run for 3 s of virtual time) and keep its picture."""
    chromium = system_tool("chromium", "chromium-browser", package="chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    target.unlink(missing_ok=True)
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={size}",
            "--virtual-time-budget=3000",
            f"--screenshot={target}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    return Image.open(target).convert("L")


def test_screenshots_idle_scanning_awaiting_paid(till, sim, tmp_path):
    profile = tmp_path / "chromium-profile"
    idle = screenshot(till.url("/"), "idle.png", profile)
    low, high = idle.getextrema()
    assert idle.size == (1024, 768) and high - low > 100  # something was drawn
    assert zxingcpp.read_barcodes(idle) == []  # no QR before a sale

    # Rehearse a scanner: a known barcode twice, then one nobody knows (screenshot checked by eye too).
    screenshot(till.url("/#scan=6901234567892,6901234567892,77777"), "scanned.png", profile)

    sale = till.http.post(till.url("/api/sales"), json={"items": [{"product_id": "LATTE", "qty": 2}]}).json()
    awaiting = screenshot(till.url(f"/#sale={sale['id']}"), "awaiting.png", profile)
    codes = zxingcpp.read_barcodes(awaiting)
    assert [c.text for c in codes] == [sale["code_url"]]  # the screen's QR is the slip's QR

    tablet = screenshot(till.url(f"/#sale={sale['id']}"), "awaiting-tablet.png", profile, size="768,1024")
    assert [c.text for c in zxingcpp.read_barcodes(tablet)] == [sale["code_url"]]

    sim.pay(sale["code_url"], notify=False)
    till.till.watcher.poll_once(now=datetime.now(UTC) + timedelta(seconds=3))
    paid = screenshot(till.url(f"/#sale={sale['id']}"), "paid.png", profile)
    assert zxingcpp.read_barcodes(paid) == []  # the QR is gone once paid


# -- the weixin:// link under the QR, for the demo ----------------------------------------------------


def test_code_url_under_the_qr_only_when_the_till_is_set_to_show_it(till, database, sim, tmp_path):
    assert 'id="qr-link"' not in till.http.get(till.url("/")).text  # off by default: customers scan
    config = till_config(tmp_path / "demo", sim, database=database.config_in(tmp_path / "demo" / "data"))
    config = config.replace(till=dataclasses.replace(config.till, show_code_url=True))
    with running_till(config, workers=False) as demo:
        page = demo.http.get(demo.url("/")).text
        assert 'id="qr-link"' in page and "粘贴到模拟器的顾客手机页" in page


def test_code_url_shows_under_the_qr_in_chromium(database, sim, tmp_path, browser):
    config = till_config(tmp_path, sim, database=database.config)
    config = config.replace(till=dataclasses.replace(config.till, show_code_url=True))
    with running_till(config, workers=False) as demo:
        sale = demo.http.post(demo.url("/api/sales"), json={"items": [{"product_id": "latte"}]}).json()
        browser.size(1024, 768)
        browser.goto(demo.url(f"/#sale={sale['id']}"))
        shown = browser.wait_for(
            "(() => { const p = document.getElementById('qr-link');"
            " return p && !p.hidden && p.offsetHeight > 0 && document.querySelector('#qr svg')"
            " && document.getElementById('qr-link-text').textContent; })()"  # the SVG comes after the link
        )
        assert shown == sale["code_url"]
        picture = Image.open(browser.screenshot("awaiting-with-link.png")).convert("L")
        assert [c.text for c in zxingcpp.read_barcodes(picture)] == [sale["code_url"]]  # the QR still reads
        # Paid: the QR and its link go away together.
        sim.pay(sale["code_url"], notify=False)
        demo.till.watcher.poll_once(now=datetime.now(UTC) + timedelta(seconds=3))
        browser.wait_for("document.getElementById('qr-link').hidden")
        assert browser.eval("document.getElementById('qr-link-text').textContent") == ""
