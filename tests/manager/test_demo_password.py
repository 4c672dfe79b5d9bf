"""The demo sets a fresh manager password each run, prints it, and it opens the manager's pages."""

from __future__ import annotations

from pos import config as pos_config
from pos import passwords
from pos.demo import banner, running_shop


def test_demo_prints_a_manager_password_that_logs_in(tmp_path, kit):
    with running_shop(tmp_path / "demo", till_port=0, listener_port=0, sim_port=0, language="zh-CN") as shop:
        password = shop.manager_password
        assert len(password) >= passwords.MIN_PASSWORD
        assert f"{shop.till_url}/manager/   password: {password}" in banner(shop)
        stored = pos_config.load(shop.config_path, env={}).manager.password_hash
        assert passwords.check_password(stored, password) and password not in shop.config_path.read_text()

        class Running:  # what kit.Manager needs of a running till
            base_url = shop.till_url

            def url(self, path: str) -> str:
                return self.base_url + path

        manager = kit.Manager(Running())
        assert manager.login("not it").status_code == 401
        response = manager.login(password)
        assert response.status_code == 200 and response.url.endswith("/manager/day")
    with running_shop(tmp_path / "demo", till_port=0, listener_port=0, sim_port=0, language="en") as again:
        assert again.manager_password != password  # a new one each run
