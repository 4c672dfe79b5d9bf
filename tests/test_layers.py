"""The house's import contracts (``.importlinter`` at the project's root) hold.

import-linter builds the graph of every ``import`` in ``pos`` (inside functions and under
``TYPE_CHECKING`` too) and checks the layers: cli → demo/setup → services → use cases → domain →
protocol → leaves, imports pointing down only; and no two of ``pos``'s top-level packages reach
each other through any chain of imports (no import circle, which a layer whose members may import
one another would still allow). The last test shows the checker would see a
violation of the kind the house must not have (an upward import hidden inside a function), so the
first cannot pass for want of looking.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import grimp
import importlinter.api  # noqa: F401  (configures import-linter's readers, as its command does)
import pytest
from importlinter.application.use_cases import lint_imports

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ROOT / ".importlinter"


def test_pos_keeps_its_import_contracts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kept = lint_imports(config_filename=str(CONTRACTS), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    assert kept, report
    assert "0 broken" in report


def test_no_two_top_level_packages_import_each_other() -> None:
    graph = grimp.build_graph("pos", cache_dir=None)
    tops = sorted(graph.find_children("pos"))
    assert {"pos.till", "pos.manager", "pos.ledger"} <= set(tops)  # the walk sees the house
    circles = [
        (a, b)
        for i, a in enumerate(tops)
        for b in tops[i + 1 :]
        if graph.chain_exists(a, b, as_packages=True) and graph.chain_exists(b, a, as_packages=True)
    ]
    assert circles == []
    # The till mounts the manager's pages; the manager reaches the till only through its Protocol.
    assert graph.chain_exists("pos.till", "pos.manager", as_packages=True)
    assert not graph.chain_exists("pos.manager", "pos.till", as_packages=True)


def test_an_upward_import_inside_a_function_breaks_the_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "house"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "service.py").write_text("import house.leaf\n")
    (package / "leaf.py").write_text(
        textwrap.dedent(
            """\
            def late():
                from house import service  # upward, and only when called
                return service
            """
        )
    )
    config = tmp_path / ".importlinter"
    config.write_text(
        textwrap.dedent(
            """\
            [importlinter]
            root_package = house

            [importlinter:contract:layers]
            name = house layers
            type = layers
            containers = house
            layers =
                service
                leaf
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    kept = lint_imports(config_filename=str(config), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    assert not kept
    assert "house.leaf -> house.service" in report
