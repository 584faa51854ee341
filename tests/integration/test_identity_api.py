"""Identity over real HTTP against `orchestrator serve`: people, API keys, sign-in, sessions, cross-site refusals.

One service for the module. Sign-in failures are throttled per client address too, so each test signs in from an
address of its own: X-Forwarded-For, which uvicorn trusts from loopback (its default forwarded-allow-ips), as
from a reverse proxy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.sandbox import SandboxThread
from orchestrator.services.identity import digest
from tests.conftest import make_settings
from tests.harness import API_TOKEN, ServiceThread
from tests.integration.served import Served, served

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("identity")) as handle:
        yield handle


def admin(service: Served) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {service.token}"}, timeout=30)


def add(service: Served, name: str, role: str, password: str = PASSWORD) -> httpx.Response:
    with admin(service) as http:
        return http.post("/v1/users", json={"name": name, "role": role, "password": password})


def form_token(http: httpx.Client, path: str = "/sign-in") -> str:
    page = http.get(path)
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def sign_in(http: httpx.Client, name: str, password: str = PASSWORD, *, address: str = "",
            **headers: str) -> httpx.Response:
    token = form_token(http)
    headers["X-Forwarded-For"] = address or f"192.0.2.{sum(name.encode()) % 250 + 1}"
    return http.post("/sign-in", data={"name": name, "password": password, "csrf_token": token,
                                       "next": "/settings"}, headers=headers)


def test_people_are_added_by_an_admin_with_clear_refusals(service: Served) -> None:
    created = add(service, "alice", "producer")
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "alice" and created.json()["role"] == "producer"
    assert "password" not in created.text
    short = add(service, "bob", "viewer", "too short")
    assert short.status_code == 422
    assert short.json()["error"] == {"code": "invalid_input", "field": "password",
                                     "message": "password: at least 12 characters"}
    bad_name = add(service, "<b>bob</b>", "viewer")
    assert bad_name.status_code == 422 and bad_name.json()["error"]["field"] == "name"
    assert add(service, "alice", "viewer").status_code == 409
    with admin(service) as http:
        assert [p["name"] for p in http.get("/v1/users").json()["items"]] == ["alice"]


def test_sign_in_sets_a_session_cookie_that_is_httponly_lax_and_path_root(service: Served) -> None:
    add(service, "carol", "admin")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        answer = sign_in(http, "carol")
        assert answer.status_code == 303 and answer.headers["location"] == "/settings"
        cookie = SimpleCookie(next(h for h in answer.headers.get_list("set-cookie") if h.startswith("eo_session")))
        morsel = cookie["eo_session"]
        assert morsel["httponly"] and morsel["samesite"] == "lax" and morsel["path"] == "/"
        assert not morsel["secure"]  # plain http on loopback
        me = http.get("/v1/me")
        assert me.json() == {"name": "carol", "role": "admin", "kind": "person"}


def test_behind_https_the_session_cookie_is_secure(service: Served) -> None:
    add(service, "dora", "viewer")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        # uvicorn trusts X-Forwarded-Proto from loopback (its default forwarded-allow-ips), as from a proxy
        answer = sign_in(http, "dora", **{"X-Forwarded-Proto": "https"})
        assert answer.status_code == 303
        cookie = SimpleCookie(next(h for h in answer.headers.get_list("set-cookie") if h.startswith("eo_session")))
        assert cookie["eo_session"]["secure"]


def test_with_an_https_public_url_the_session_cookie_is_secure(sandbox: SandboxThread, tmp_path: Path) -> None:
    settings = make_settings(f"sqlite:///{tmp_path / 'o.db'}", sandbox, tmp_path / "data",
                             public_url="https://console.example")
    own = ServiceThread(settings)
    own.url = f"http://127.0.0.1:{settings.port}"  # reached directly, as a proxy in front of it would
    own.start()
    try:
        with own.client(API_TOKEN) as http:
            assert http.post("/v1/users", json={"name": "olga", "role": "viewer", "password": PASSWORD}).is_success
        with httpx.Client(base_url=own.url, timeout=30) as http:
            form = http.get("/sign-in")
            pre = SimpleCookie(form.headers["set-cookie"])["eo_csrf"]
            assert pre["secure"]  # so httpx, on plain http here, would not send it back: we do, as a browser on https
            answer = http.post("/sign-in", headers={"Cookie": f"eo_csrf={pre.value}"}, data={
                "name": "olga", "password": PASSWORD, "csrf_token": _token_of(form.text), "next": "/"})
        assert answer.status_code == 303
        cookie = SimpleCookie(next(h for h in answer.headers.get_list("set-cookie") if h.startswith("eo_session")))
        assert cookie["eo_session"]["secure"] and cookie["eo_session"]["httponly"]
    finally:
        own.stop()


def test_wrong_password_and_unknown_name_get_the_same_answer(service: Served) -> None:
    add(service, "erin", "viewer")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        wrong = sign_in(http, "erin", "not the right password")
        unknown = sign_in(http, "nobody-here", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong name or password." in wrong.text and "Wrong name or password." in unknown.text
    assert wrong.text.replace("erin", "X") == unknown.text.replace("nobody-here", "X").replace(
        _token_of(unknown.text), _token_of(wrong.text))


def _token_of(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_sign_out_ends_the_session_and_the_old_cookie_is_worthless(service: Served) -> None:
    add(service, "fred", "admin")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sign_in(http, "fred")
        old = http.cookies.get("eo_session")
        assert old and http.get("/v1/me").status_code == 200
        token = form_token(http, "/settings")
        out = http.post("/sign-out", data={"csrf_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    with httpx.Client(base_url=service.url, timeout=30, cookies={"eo_session": old}) as replay:
        assert replay.get("/v1/me").status_code == 401
        page = replay.get("/settings")
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")


def test_a_form_without_its_token_or_from_another_origin_is_refused(service: Served) -> None:
    add(service, "gina", "admin")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sign_in(http, "gina")
        token = form_token(http, "/settings")
        assert http.post("/sign-out", data={"csrf_token": "forged"}).status_code == 403
        cross = http.post("/sign-out", data={"csrf_token": token}, headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403
        # the API with the session cookie: same origin only for changes
        evil = http.post("/v1/keys", json={"name": "x", "role": "viewer"}, headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        site = http.post("/v1/keys", json={"name": "x", "role": "viewer"}, headers={"Sec-Fetch-Site": "cross-site"})
        assert site.status_code == 403
        own = http.post("/v1/keys", json={"name": "mine", "role": "viewer"}, headers={"Origin": service.url})
        assert own.status_code == 201
        assert http.get("/v1/me").status_code == 200  # still signed in


def test_a_key_is_shown_once_and_works_until_revoked(service: Served) -> None:
    with admin(service) as http:
        made = http.post("/v1/keys", json={"name": "ci-deploy", "role": "producer"})
        assert made.status_code == 201
        secret, key_id = made.json()["key"], made.json()["id"]
        assert secret.startswith("eo_")
        listed = http.get("/v1/keys")
        assert secret not in listed.text and "key" not in listed.json()["items"][0]
        item = next(k for k in listed.json()["items"] if k["id"] == key_id)
        assert item["creator"] == "api-token" and item["role"] == "producer" and not item["revoked"]
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as key:
        assert key.get("/v1/me").json() == {"name": "ci-deploy", "role": "producer", "kind": "key"}
        assert key.get("/v1/egresses").status_code == 200
        assert key.post("/v1/keys", json={"name": "more", "role": "viewer"}).status_code == 403  # keys: admins
        with admin(service) as http:
            assert http.delete(f"/v1/keys/{key_id}").status_code == 204
        started = time.monotonic()
        while key.get("/v1/me").status_code != 401:
            assert time.monotonic() - started < 2.5, "a revoked key kept working"
            time.sleep(0.1)
    with admin(service) as http:
        assert next(k for k in http.get("/v1/keys").json()["items"] if k["id"] == key_id)["revoked"]


def test_no_secret_reaches_the_settings_page_or_the_api(service: Served) -> None:
    add(service, "mona", "admin")
    with admin(service) as http:
        made = http.post("/v1/keys", json={"name": "mona-ci", "role": "viewer"}).json()
        people = http.get("/v1/users").text
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sign_in(http, "mona")
        page = http.get("/settings").text
    for text in (page, people):
        assert "$argon2" not in text and PASSWORD not in text and made["key"] not in text
    assert digest(made["key"]) not in page and service.token not in page
    assert "mona-ci" in page  # the key is listed, by name


def test_a_viewer_key_cannot_make_a_producer_key_nor_an_admin_key_a_stronger_one(service: Served) -> None:
    with admin(service) as http:
        viewer_secret = http.post("/v1/keys", json={"name": "reader", "role": "viewer"}).json()["key"]
        admin_secret = http.post("/v1/keys", json={"name": "ops", "role": "admin"}).json()["key"]
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {viewer_secret}"}, timeout=30) as v:
        refused = v.post("/v1/keys", json={"name": "escalate", "role": "producer"})
        assert refused.status_code == 403 and "reader is viewer" in refused.json()["error"]["message"]
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {admin_secret}"}, timeout=30) as a:
        assert a.post("/v1/keys", json={"name": "child", "role": "admin"}).status_code == 201


def test_keys_of_a_removed_person_stop_working(service: Served) -> None:
    add(service, "hank", "admin")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        sign_in(http, "hank")
        made = http.post("/v1/keys", json={"name": "hanks-key", "role": "producer"}, headers={"Origin": service.url})
        secret = made.json()["key"]
    with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as key:
        assert key.get("/v1/me").json()["role"] == "producer"
        with admin(service) as a:
            assert a.patch("/v1/users/hank", json={"role": "viewer"}).json()["role"] == "viewer"
        time.sleep(2.1)
        assert key.get("/v1/me").json()["role"] == "viewer"  # capped at its creator's role now
        with admin(service) as a:
            assert a.delete("/v1/users/hank").status_code == 204
        time.sleep(2.1)
        assert key.get("/v1/me").status_code == 401


def cli(service: Served, *args: str, stdin: str = "") -> Any:
    """`orchestrator ...` in this process (a subprocess per command spent seconds importing each time)."""
    env = {"ORCHESTRATOR_URL": service.url, "ORCHESTRATOR_API_TOKEN": service.token, "COLUMNS": "250"}
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def test_the_cli_adds_people_and_makes_lists_and_revokes_keys(service: Served) -> None:
    added = cli(service, "users", "add", "kim", "--role", "producer", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.exit_code == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    short = cli(service, "users", "add", "lou", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "password: at least 12 characters" in short.stderr
    assert cli(service, "users", "set-role", "kim", "admin").exit_code == 0
    people = json.loads(cli(service, "users", "list", "--json").stdout)["items"]
    assert {"name": "kim", "role": "admin"}.items() <= next(p for p in people if p["name"] == "kim").items()
    assert cli(service, "users", "password", "kim", "--password-stdin", stdin="a brand new password\n").exit_code == 0
    with httpx.Client(base_url=service.url, timeout=30) as http:
        assert sign_in(http, "kim", "a brand new password").status_code == 303
    made = cli(service, "keys", "create", "nightly", "--role", "viewer")
    assert made.exit_code == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("eo_") and "not shown again" in made.stderr
    listed = cli(service, "keys", "list", "--json")
    assert secret not in listed.stdout
    key_id = next(k["id"] for k in json.loads(listed.stdout)["items"] if k["name"] == "nightly")
    assert cli(service, "keys", "revoke", key_id).exit_code == 0
    assert cli(service, "users", "remove", "kim").exit_code == 0
    assert "kim" not in [p["name"] for p in json.loads(cli(service, "users", "list", "--json").stdout)["items"]]


def test_sign_in_failures_are_throttled_per_name_with_retry_after(service: Served) -> None:
    add(service, "ivan", "viewer")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        for i in range(5):  # from five addresses: the name is what is held back
            assert sign_in(http, "ivan", "wrong password!!", address=f"198.51.100.{i}").status_code == 401
        held = sign_in(http, "ivan", PASSWORD, address="198.51.100.99")
    assert held.status_code == 429
    assert 1 <= int(held.headers["retry-after"]) <= 30
    assert f"Try again in {held.headers['retry-after']} seconds" in held.text


def test_a_burst_of_parallel_failures_is_throttled_as_if_one_by_one(service: Served) -> None:
    add(service, "pia", "viewer")
    with httpx.Client(base_url=service.url, timeout=60) as http:
        form = http.get("/sign-in")
        cookies, token = dict(http.cookies), _token_of(form.text)

    def attempt(i: int) -> int:
        with httpx.Client(base_url=service.url, timeout=60, cookies=cookies) as one:
            return one.post("/sign-in", headers={"X-Forwarded-For": f"198.51.100.{100 + i}"}, data={
                "name": "pia", "password": f"wrong password {i}!", "csrf_token": token, "next": "/"}).status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = sorted(pool.map(attempt, range(10)))
    assert statuses == [401] * 5 + [429] * 5


def test_sign_in_failures_are_throttled_per_address_across_names(service: Served) -> None:
    add(service, "judy", "viewer")
    with httpx.Client(base_url=service.url, timeout=30) as http:
        for i in range(5):  # five names from one address
            assert sign_in(http, f"guess-{i}", PASSWORD, address="203.0.113.7").status_code == 401
        held = sign_in(http, "judy", PASSWORD, address="203.0.113.7")
        assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
        assert sign_in(http, "judy", PASSWORD, address="203.0.113.8").status_code == 303  # judy elsewhere
