"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from pos import config


@pytest.fixture
def demo_config(tmp_path) -> config.Config:
    """The embedded defaults with the data directory and database under tmp_path."""
    cfg = config.from_mapping({}, "<test>", env={})
    return cfg.replace(
        till=config.TillConfig(data_dir=str(tmp_path)),
        database=config.DatabaseConfig(url=f"sqlite:///{tmp_path / 'pos.sqlite3'}"),
        printer=config.PrinterConfig(device=f"dir:{tmp_path / 'printer'}"),
    )
