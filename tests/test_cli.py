"""The ``pos`` command itself: global options anywhere, and a light start.

Global options (``--config``, ``-v``) are checked on every sub-parser the real
parser has, at every depth, so a command added later is held to the same rule.
The light start is checked in a fresh interpreter: ``pos --help`` and every
``pos ... --help`` must not import Flask, werkzeug, SQLAlchemy, Pillow,
python-escpos, requests or waitress (the time itself is measured in the README,
never asserted).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pos.cli import build_parser, main
from pos.ledger import JobKind, open_ledger

HEAVY = ("flask", "werkzeug", "sqlalchemy", "alembic", "PIL", "escpos", "requests", "waitress")


def sub_parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every sub-parser under ``parser`` with the words that reach it: ("manager", "set-password")."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from sub_parsers(sub, (*path, name))


def required_positionals(parser: argparse.ArgumentParser) -> list[str]:
    """A placeholder word for each positional the parser insists on (``pos label PRODUCT_ID``)."""
    return [
        "X"
        for action in parser._actions
        if not action.option_strings
        and not isinstance(action, argparse._SubParsersAction)
        and action.nargs not in ("?", "*")
    ]


COMMANDS = list(sub_parsers(build_parser()))


def test_the_tree_walked_here_is_the_real_one():
    paths = {path for path, _ in COMMANDS}
    assert {("till",), ("sale",), ("report",), ("label",), ("listen",), ("reconcile",), ("demo",)} <= paths
    assert {("manager", "set-password"), ("printer", "test"), ("printer", "preview")} <= paths


@pytest.mark.parametrize(("path", "sub"), COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_every_command_takes_the_global_options_after_its_name(path, sub):
    options = {string: action for action in sub._actions for string in action.option_strings}
    for option in ("--config", "-v", "--verbose"):
        assert option in options, f"pos {' '.join(path)} does not take {option}"
        # A default here would overwrite a value given before the command (argparse copies the
        # sub-parser's namespace over the main one).
        assert options[option].default is argparse.SUPPRESS

    extra = required_positionals(sub)
    after = build_parser().parse_args([*path, "--config", "after.toml", "-v", *extra])
    assert (after.config, after.verbose) == ("after.toml", True)
    before = build_parser().parse_args(["--config", "before.toml", "-v", *path, *extra])
    assert (before.config, before.verbose) == ("before.toml", True)
    both = build_parser().parse_args(["--config", "before.toml", *path, "--config", "after.toml", *extra])
    assert (both.config, both.verbose) == ("after.toml", False)  # the later one wins, as usual
    neither = build_parser().parse_args([*path, *extra])
    assert (neither.config, neither.verbose) == (None, False)


def test_label_with_config_after_it_takes_the_next_word_as_the_product():
    args = build_parser().parse_args(["label", "--config", "shop.toml", "LATTE"])
    assert (args.config, args.product_id) == ("shop.toml", "LATTE")


def write_shop_config(tmp_path, database_url: str) -> str:
    path = tmp_path / "pos.toml"
    path.write_text(
        f"""
[store]
language = "en"

[database]
url = "{database_url}"

[[products]]
id = "LATTE"
name = "Latte"
price = "18.00"
""",
        encoding="utf-8",
    )
    return str(path)


def test_commands_run_with_the_config_named_after_them(tmp_path, database_url, capsys):
    config = write_shop_config(tmp_path, database_url)
    open_ledger(database_url).close()  # an empty, migrated ledger

    assert main(["report", "--config", config]) == 0
    assert "Net" in capsys.readouterr().out

    assert main(["label", "--config", config, "LATTE"]) == 0
    assert "Latte" in capsys.readouterr().out
    with open_ledger(database_url) as ledger:
        (job,) = [job for job in ledger.unfinished_jobs() if job.kind is JobKind.LABEL]
    assert job.payload["product_id"] == "LATTE"


def test_a_command_run_as_a_person_runs_it_prints_no_import_noise(tmp_path, database_url, run_pos):
    """Libraries imported when the command runs, after logging is set up, must not add lines."""
    config = write_shop_config(tmp_path, database_url)
    open_ledger(database_url).close()
    result = run_pos("report", "--config", config, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Net" in result.stdout
    assert result.stderr == ""


def test_set_password_writes_the_config_named_after_the_sub_sub_command(tmp_path, monkeypatch, capsys):
    config = write_shop_config(tmp_path, f"sqlite:///{tmp_path / 'pos.sqlite3'}")  # never opened
    monkeypatch.delenv("POS_CONFIG", raising=False)
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("a long enough password\n"))
    assert main(["manager", "set-password", "--password-stdin", "--config", config]) == 0
    assert "password_hash = " in (tmp_path / "pos.toml").read_text(encoding="utf-8")


# -- a light start -------------------------------------------------------------------------------

# Runs in a fresh interpreter: every `pos ... --help` the parser has, then reports which heavy
# modules each one brought in. The last line imports the listener's app, to show the check sees.
PROBE = r"""
import argparse, contextlib, io, json, sys
from pos.cli import build_parser, main

HEAVY = {heavy!r}

def paths(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from paths(sub, (*prefix, name))

found = {{}}
for path in [(), *paths(build_parser())]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main([*path, "--help"])
    found[" ".join(("pos", *path, "--help"))] = [m for m in HEAVY if m in sys.modules]
import pos.listener.app
found["control: import pos.listener.app"] = [m for m in HEAVY if m in sys.modules]
print(json.dumps(found))
"""


def test_help_imports_none_of_the_heavy_libraries():
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    control = found.pop("control: import pos.listener.app")
    assert {"flask", "werkzeug", "sqlalchemy"} <= set(control)  # the probe does see an import
    assert "pos --help" in found and "pos till --help" in found and "pos printer test --help" in found
    assert {command: heavy for command, heavy in found.items() if heavy} == {}


def test_help_imports_nothing_heavy_by_importtime():
    """The same seen from -X importtime, which lists the modules import statements load (not those
    importlib.import_module loads, such as the command modules themselves: so the marker here is
    pos.i18n, which pos.till.cli imports)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from pos.cli import main; main(['till', '--help'])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "pos.i18n" in imported and "argparse" in imported
    assert {name for name in imported if name.split(".")[0] in HEAVY} == set()
