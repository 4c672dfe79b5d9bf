"""Many tills starting together on one fresh ledger: real ``pos`` processes, each opening (and so
migrating) the ledger at once. All succeed, the schema is at head, and exactly one of them migrated
(``ledger_migrated`` in its log at ``-v``): the others waited (PostgreSQL's advisory lock, SQLite's write
lock) and found nothing to do."""

from __future__ import annotations

import os
import subprocess
import sys

from pos.ledger.database import create_ledger_engine, current_revision, head_revision

PROCESSES = 6


def test_several_pos_processes_starting_together_migrate_once(empty_db_url, tmp_path):
    config = tmp_path / "pos.toml"
    config.write_text(f'[database]\nurl = "{empty_db_url}"\n', encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "pos.cli", "--config", str(config), "-v", "cashier", "list"]
    processes = [
        subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(PROCESSES)
    ]
    results = [(p.wait(120), *p.communicate()) for p in processes]
    assert [code for code, _, _ in results] == [0] * PROCESSES, [err for _, _, err in results]
    migrated = [err for _, _, err in results if "ledger_migrated" in err]
    assert len(migrated) == 1, [err for _, _, err in results]
    assert f"to_revision={head_revision()}" in migrated[0]
    engine = create_ledger_engine(empty_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
