"""The Rules console pages over plain HTTP (no JavaScript) against `orchestrator serve`: admins create, edit,
enable, disable and delete rules through forms (errors beside the field, worded as the API's 422), everyone
can try a room, viewers and producers see no change buttons and their forged posts are refused."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.browser.console import PEOPLE, add_person, session_cookies
from tests.integration.served import Served, served


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("console-rules")) as s:
        for name, role in PEOPLE.items():
            add_person(s, name, role)
        yield s


def as_person(s: Served, name: str) -> httpx.Client:
    return httpx.Client(base_url=s.url, cookies=session_cookies(s.url, name), timeout=30)


def api(s: Served) -> httpx.Client:
    return httpx.Client(base_url=s.url, headers={"Authorization": f"Bearer {s.token}"}, timeout=30)


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def form(**fields: str) -> dict[str, str]:
    """A new rule's form as the page posts it: a composite to MP4, standard kinds, as the blank form has them."""
    values = {"name": "classes", "enabled": "on", "priority": "0", "match.room_name_glob": "class-*",
              "composite": "on", "actions.composite.layout": "grid", "composite.mp4": "on",
              "actions.composite.outputs.filepath": "{room_name}/{room_sid}/composite-{time}-part{part}.mp4"}
    values.update(fields)
    return values


def error_beside(page: str, field: str) -> str:
    """The error text shown right after the field `field` (by its id), unescaped."""
    fid = "f-" + field.replace(".", "-").replace("_", "-")
    found = re.search(rf'<p class="error" id="{re.escape(fid)}-error">([^<]*)</p>', page)
    assert found, f"no error beside {field}"
    return html.unescape(found.group(1))


def api_message(s: Served, body: dict[str, object]) -> str:
    with api(s) as http:
        answer = http.post("/v1/rules", json=body)
    assert answer.status_code == 422, answer.text
    message: str = answer.json()["error"]["message"]
    return message


def test_an_admin_creates_edits_disables_enables_and_deletes_a_rule(service: Served) -> None:
    with as_person(service, "admin") as http:
        new = http.get("/rules/new").text
        made = http.post("/rules/new", data={**form(name="lectures", **{"match.room_name_glob": "lecture-*"}),
                                             "participants_filter.kinds": ["standard", "sip"],
                                             "csrf_token": csrf(new)}, follow_redirects=False)
        assert made.status_code == 303, made.text
        page = http.get(made.headers["location"]).text
        assert "Rule created." in page and "name like lecture-*" in page
        rule = http.get("/v1/rules/lectures").json()
        assert rule["participants_filter"]["kinds"] == ["sip", "standard"]
        assert rule["actions"]["composite"]["layout"] == "grid"

        edited = http.post(f"/rules/{rule['id']}", data={
            **form(name="lectures", priority="7", **{"match.room_name_glob": "", "match.metadata": '{"rec": true}',
                                                      "composite.mp4": "", "composite.hls": "on",
                                                      "actions.composite.outputs.filename_prefix": "{room_name}/hls"}),
            "csrf_token": csrf(page)}, follow_redirects=False)
        assert edited.status_code == 303 and "done=saved" in edited.headers["location"]
        rule = http.get("/v1/rules/lectures").json()
        assert rule["priority"] == 7 and rule["match"] == {"room_name_glob": "", "room_name_regex": "",
                                                           "metadata": {"rec": True}, "all_rooms": False}
        assert rule["actions"]["composite"]["outputs"] == [{"type": "hls", "filename_prefix": "{room_name}/hls"}]

        listing = http.get("/rules").text
        token = csrf(listing)
        assert http.post(f"/rules/{rule['id']}/disable", data={"csrf_token": token},
                         follow_redirects=False).status_code == 303
        assert http.get("/v1/rules/lectures").json()["enabled"] is False
        assert "Rule disabled." in http.get("/rules?done=disabled").text
        assert http.post(f"/rules/{rule['id']}/enable", data={"csrf_token": token},
                         follow_redirects=False).status_code == 303
        assert http.get("/v1/rules/lectures").json()["enabled"] is True
        deleted = http.post(f"/rules/{rule['id']}/delete", data={"csrf_token": token}, follow_redirects=False)
        assert deleted.status_code == 303 and deleted.headers["location"] == "/rules?done=deleted"
        assert http.get("/v1/rules/lectures").status_code == 404
        assert http.get(f"/rules/{rule['id']}").status_code == 404


def test_form_errors_sit_beside_their_field_with_the_apis_words(service: Served) -> None:
    with as_person(service, "admin") as http:
        token = csrf(http.get("/rules/new").text)

        def post(**fields: str) -> httpx.Response:
            return http.post("/rules/new", data={**form(**fields), "csrf_token": token})

        bad_priority = post(priority="loud")
        assert bad_priority.status_code == 422
        assert error_beside(bad_priority.text, "priority") == api_message(
            service, {"name": "x", "priority": "loud", "match": {"all_rooms": True}})
        assert 'value="loud"' in bad_priority.text  # what was typed stays

        no_rooms = post(**{"match.room_name_glob": ""})
        assert error_beside(no_rooms.text, "match") == api_message(
            service, {"name": "x", "actions": {"composite": {}}})

        bad_regex = post(**{"match.room_name_glob": "", "match.room_name_regex": "class-("})
        assert error_beside(bad_regex.text, "match.room_name_regex") == api_message(
            service, {"name": "x", "match": {"room_name_regex": "class-("}, "actions": {"composite": {}}})

        bad_path = post(**{"actions.composite.outputs.filepath": "{room}/x.mp4"})
        assert error_beside(bad_path.text, "actions.composite.outputs.filepath") == api_message(
            service, {"name": "x", "match": {"all_rooms": True},
                      "actions": {"composite": {"outputs": [{"type": "s3", "filepath": "{room}/x.mp4"}]}}})

        nothing = post(composite="")
        assert error_beside(nothing.text, "actions") == api_message(
            service, {"name": "x", "match": {"all_rooms": True}})

        not_json = post(**{"match.metadata": "{rec: true"})
        assert error_beside(not_json.text, "match.metadata").startswith("match.metadata: not valid JSON")
    with api(service) as client:
        assert client.get("/v1/rules").json()["items"] == []  # nothing was stored


def test_trying_a_room_shows_the_rules_that_match_and_what_they_record(service: Served) -> None:
    with api(service) as client:
        assert client.post("/v1/rules", json={"name": "flagged", "match": {"metadata": {"rec": "yes"}},
                                              "actions": {"tracks": {}}}).status_code == 201
        assert client.post("/v1/rules", json={"name": "<b>classes</b>", "match": {"room_name_glob": "class-*"},
                                              "actions": {"composite": {"layout": "speaker"}}}).status_code == 201
    with as_person(service, "viewer") as http:
        both = http.get("/rules", params={"room": "class-<i>1</i>", "metadata": "rec=yes\nteacher = ann"}).text
        one = http.get("/rules", params={"room": "class-2", "metadata": '{"rec": "no"}'}).text
        none = http.get("/rules", params={"room": "lobby", "metadata": ""}).text
        bad = http.get("/rules", params={"room": "lobby", "metadata": "just words"}).text
    assert "room name matches &#39;class-*&#39;" in both and "metadata contains {&#34;rec&#34;: &#34;yes&#34;}" in both
    assert "composite, speaker layout: MP4 class-_i_1__i_/RM_example/composite-" in both
    assert "&lt;b&gt;classes&lt;/b&gt;" in both and "<b>classes</b>" not in both
    assert "class-&lt;i&gt;1&lt;/i&gt;" in both
    assert "flagged" in one and "metadata contains" not in one
    assert "No rule would record this room." in none
    assert "metadata: line 1 is not key=value" in bad


def test_viewers_and_producers_see_no_change_buttons_and_their_posts_are_refused(service: Served) -> None:
    with api(service) as client:
        made = client.post("/v1/rules", json={"name": "guarded", "match": {"room_name_glob": "g-*"},
                                              "actions": {"tracks": {}}})
        assert made.status_code == 201
        rule_id = made.json()["id"]
    for name in ("viewer", "producer"):
        with as_person(service, name) as http:
            listing = http.get("/rules").text
            detail = http.get(f"/rules/{rule_id}").text
            for page in (listing, detail):
                assert "New rule" not in page and "Disable" not in page and "Delete" not in page
                assert "Save rule" not in page
            assert http.get("/rules/new").status_code == 403
            token = csrf(listing)  # the sign-out form's token: valid for this session
            for path in (f"/rules/{rule_id}/disable", f"/rules/{rule_id}/delete", f"/rules/{rule_id}", "/rules/new"):
                assert http.post(path, data={**form(), "csrf_token": token}).status_code == 403, (name, path)
    with api(service) as client:
        assert client.get(f"/v1/rules/{rule_id}").json()["enabled"] is True
    with as_person(service, "admin") as http:
        forged = http.post(f"/rules/{rule_id}/delete", data={"csrf_token": "forged"})
        assert forged.status_code == 403
    with api(service) as client:
        assert client.get(f"/v1/rules/{rule_id}").status_code == 200
