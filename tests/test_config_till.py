"""The till's protection settings: the API token from the file, the environment or a credential."""

from __future__ import annotations

import pytest

from pos.config import ConfigError, from_mapping

TOKEN = "0123456789abcdef-token"


def test_the_api_token_comes_from_the_file_the_environment_or_a_credential(tmp_path):
    assert from_mapping({}, env={}).till.api_token == ""
    assert from_mapping({"till": {"api_token": TOKEN}}, env={}).till.api_token == TOKEN
    assert from_mapping({}, env={"POS_TILL_API_TOKEN": TOKEN}).till.api_token == TOKEN
    (tmp_path / "till_api_token").write_text(TOKEN + "\n", encoding="utf-8")
    assert from_mapping({}, env={"CREDENTIALS_DIRECTORY": str(tmp_path)}).till.api_token == TOKEN


@pytest.mark.parametrize(
    ("till", "env", "says"),
    [
        ({"api_token": "short"}, {}, "api_token must have at least 16"),
        ({}, {"POS_TILL_API_TOKEN": "short"}, "till_api_token must have at least 16"),
        ({"allowed_hosts": ["till.lan/x"]}, {}, "allowed_hosts has 'till.lan/x'"),
        ({"cashier_idle_minutes": 0}, {}, "cashier_idle_minutes must be 1..720"),
    ],
)
def test_bad_settings_are_refused(till, env, says):
    with pytest.raises(ConfigError, match=says):
        from_mapping({"till": till}, env=env)
