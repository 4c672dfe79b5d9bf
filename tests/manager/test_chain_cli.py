"""``pos manager set-password --chain`` writes the chain's manager's hash beside the store's, which
it leaves as it was; the config reads it from the file or from a credential."""

from __future__ import annotations

import io
import sys

from pos import config as pos_config
from pos import passwords
from pos.cli import main


def _pos(monkeypatch, capsys, *argv: str, password: str) -> tuple[int, str, str]:
    """``pos ARGV`` in this process, the password on standard input."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_set_password_chain_writes_its_own_key(tmp_path, monkeypatch, capsys):
    path = tmp_path / "pos.toml"
    path.write_text("[store]\nid = \"S01\"\n\n[manager]\npassword_hash = 'store-hash'\n", encoding="utf-8")
    path.chmod(0o600)

    code, out, err = _pos(
        monkeypatch,
        capsys,
        *("--config", str(path), "manager", "set-password", "--password-stdin", "--chain"),
        password="the whole chain",
    )

    assert code == 0, err
    assert "chain_password_hash" in out and "the whole chain" not in path.read_text(encoding="utf-8")
    manager = pos_config.load(path, env={}).manager
    assert manager.password_hash == "store-hash"
    assert passwords.check_password(manager.chain_password_hash, "the whole chain")
    assert not passwords.check_password(manager.chain_password_hash, "store-hash")


def test_set_password_chain_print_names_the_credential(monkeypatch, capsys):
    monkeypatch.delenv("POS_CONFIG", raising=False)
    code, out, err = _pos(
        monkeypatch,
        capsys,
        *("manager", "set-password", "--password-stdin", "--chain", "--print"),
        password="the whole chain",
    )
    assert code == 0
    assert passwords.check_password(out.strip(), "the whole chain")
    assert "manager_chain_password_hash" in err and "POS_MANAGER_CHAIN_PASSWORD_HASH" in err


def test_chain_password_hash_from_a_credential(tmp_path):
    path = tmp_path / "pos.toml"
    path.write_text("[manager]\nchain_password_hash = 'in-file'\n", encoding="utf-8")
    assert pos_config.load(path, env={}).manager.chain_password_hash == "in-file"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "manager_chain_password_hash").write_text("from-systemd\n", encoding="utf-8")
    loaded = pos_config.load(path, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert loaded.manager.chain_password_hash == "from-systemd"
    env = {"POS_MANAGER_CHAIN_PASSWORD_HASH": "from-env"}
    assert pos_config.load(path, env=env).manager.chain_password_hash == "from-env"
