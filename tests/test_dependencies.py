"""Every third-party module ``pos`` imports is a dependency it declares, and the test tools are pinned.

A module that arrives only as another package's dependency (werkzeug under flask, markupsafe under
jinja2) works until that package stops needing it; then a fresh install breaks at import time. So
the imports are read from the source (every ``import`` in ``pos/``, at any depth, lazy ones too),
mapped to the distributions that provide them with ``importlib.metadata.packages_distributions()``,
and each must be named in ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = {"pos", "printer_profiles"}
# Shipped test helpers (pos.testing, as structlog ships structlog.testing) may use the test extra.
TEST_HELPERS = ROOT / "pos" / "testing"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_normal(re.match(r"[A-Za-z0-9._-]+", req.strip()).group(0)) for req in requirements}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def third_party_imports(folder: Path) -> dict[str, set[Path]]:
    """Top-level module name → the files under ``folder`` that import it (not stdlib, not ours)."""
    found: dict[str, set[Path]] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN:
                    found.setdefault(top, set()).add(path)
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    project = _project()
    base = _names(project["dependencies"])
    extras = {name: _names(reqs) for name, reqs in project["optional-dependencies"].items()}
    providers = importlib.metadata.packages_distributions()
    imports = third_party_imports(ROOT / "pos")
    assert {"flask", "werkzeug", "markupsafe", "sqlalchemy"} <= imports.keys()  # the reader reads

    missing = []
    for module, files in sorted(imports.items()):
        dists = {_normal(dist) for dist in providers.get(module, [])}
        assert dists, f"{module} is imported but no installed distribution provides it"
        helpers_only = all(path.is_relative_to(TEST_HELPERS) for path in files)
        allowed = base | (extras["test"] if helpers_only else set())
        if not dists & allowed:
            where = ", ".join(str(path.relative_to(ROOT)) for path in sorted(files)[:3])
            missing.append(f"{module} (from {'/'.join(sorted(dists))}; imported in {where})")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_the_finder_sees_lazy_imports_and_skips_the_standard_library(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        "import os, json\nfrom pos import money\nfrom . import sibling\n"
        "def f():\n    import werkzeug.exceptions\n    from markupsafe import Markup\n",
        encoding="utf-8",
    )
    assert set(third_party_imports(tmp_path)) == {"werkzeug", "markupsafe"}


def test_the_tools_the_suite_runs_are_pinned_exactly() -> None:
    loose = [req for req in _project()["optional-dependencies"]["test"] if "==" not in req]
    assert not loose, f"pin these to the version the suite was last run with: {loose}"
