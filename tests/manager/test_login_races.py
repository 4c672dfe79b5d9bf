"""The manager's login under attack over real HTTP: parallel guesses, and login forms from other sites.

Parallel wrong passwords must not get more password checks than ``[manager] max_failures``:
each attempt is counted before its password is checked. The checks are counted at the lowest
seam (:func:`pos.passwords.check_password`, wrapped to count and then do the real work
with a real scrypt hash, so the requests overlap as they would against a shop's till).
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from werkzeug.security import generate_password_hash

from pos import passwords
from pos.manager import auth
from pos.till.testing import running_till

PASSWORD = "correct horse battery"  # conftest's
RACERS = 40


def test_parallel_wrong_passwords_get_no_more_checks_than_max_failures(tmp_path, sim, kit, monkeypatch):
    config = kit.manager_config(tmp_path, sim)
    config = config.replace(
        manager=dataclasses.replace(config.manager, password_hash=generate_password_hash(PASSWORD))
    )  # scrypt, as `pos manager set-password` writes it: each check takes real time
    checks = 0
    lock = threading.Lock()
    real_check = passwords.check_password

    def counting_check(password_hash: str, password: str) -> bool:
        nonlocal checks
        with lock:
            checks += 1
        return real_check(password_hash, password)

    monkeypatch.setattr(passwords, "check_password", counting_check)
    with running_till(config, workers=False) as till:
        browsers = []
        for _ in range(RACERS):
            http = requests.Session()
            page = http.get(till.url("/manager/login"), timeout=30)
            browsers.append((http, kit.csrf_token(page.text)))
        start = threading.Barrier(RACERS)

        def guess(n: int) -> int:
            http, token = browsers[n]
            start.wait(timeout=30)
            password = f"wrong guess {n}"
            response = http.post(
                till.url("/manager/login"),
                data={"csrf_token": token, "password": password},
                timeout=60,
                allow_redirects=False,
            )
            return response.status_code

        with ThreadPoolExecutor(RACERS) as pool:
            statuses = list(pool.map(guess, range(RACERS)))
        for http, _ in browsers:
            http.close()
        limit = config.manager.max_failures
        assert checks <= limit, f"{checks} password checks ran for {RACERS} parallel guesses (limit {limit})"
        assert statuses.count(401) == checks
        assert statuses.count(429) == RACERS - checks
        # The address is locked now: even the right password, sent next, is not checked.
        http = requests.Session()
        token = kit.csrf_token(http.get(till.url("/manager/login"), timeout=30).text)
        before = checks
        response = http.post(
            till.url("/manager/login"), data={"csrf_token": token, "password": PASSWORD}, timeout=30,
            allow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 429 and checks == before


def test_a_login_post_without_a_token_leaves_the_managers_session_alone(logged_in):
    cookie = logged_in.http.cookies.get(auth.COOKIE, path=auth.COOKIE_PATH)
    assert cookie
    # What a form on another site can send: no token, the browser adds the cookie.
    response = logged_in.http.post(
        logged_in.url("/manager/login"), data={"password": "anything"}, allow_redirects=False, timeout=30
    )
    assert response.status_code == 403
    assert auth.COOKIE not in response.headers.get("Set-Cookie", "")
    assert logged_in.http.cookies.get(auth.COOKIE, path=auth.COOKIE_PATH) == cookie
    day = logged_in.http.get(logged_in.url("/manager/day"), allow_redirects=False, timeout=30)
    assert day.status_code == 200  # still logged in


def test_a_login_post_with_a_wrong_token_leaves_the_managers_session_alone(logged_in):
    cookie = logged_in.http.cookies.get(auth.COOKIE, path=auth.COOKIE_PATH)
    response = logged_in.http.post(
        logged_in.url("/manager/login"),
        data={"csrf_token": "forged", "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 403
    assert logged_in.http.cookies.get(auth.COOKIE, path=auth.COOKIE_PATH) == cookie
    day = logged_in.http.get(logged_in.url("/manager/day"), allow_redirects=False, timeout=30)
    assert day.status_code == 200
