"""The layout routes over real HTTP (no browser): caching, asset lookup, error pages, vendor check."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import httpx
import pytest

from orchestrator.layouts.assets import locate_assets

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def http(layouts_server: str) -> httpx.Client:
    with httpx.Client(base_url=layouts_server, timeout=10) as client:
        yield client


def test_page_links_versioned_assets_cached_as_immutable(http: httpx.Client) -> None:
    page = http.get("/layouts/gallery", params={"url": "wss://lk.example", "token": "t.k.n"})
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assets = re.findall(r'(?:src|href)="(/layouts/static/[^"]+)"', page.text)
    assert [a.split("?")[0].rsplit("/", 1)[1] for a in assets] == [
        "layouts.css", "livekit-client.umd.js", "geometry.js", "stage.js", "live.js",
    ]
    for asset in assets:
        response = http.get(asset.replace("&amp;", "&"))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["content-type"].startswith(("text/javascript", "text/css"))
    unversioned = http.get("/layouts/static/stage.js")
    assert unversioned.headers["cache-control"] == "public, max-age=300"
    stale = http.get("/layouts/static/stage.js?v=000000000000")
    assert stale.headers["cache-control"] == "public, max-age=300"


@pytest.mark.parametrize(
    "path",
    [
        "/layouts/static/../orchestrator/layouts/routes.py",
        "/layouts/static/%2e%2e/pyproject.toml",
        "/layouts/static/check_vendor.py",
        "/layouts/static/vendor/livekit-client.LICENSE",
        "/layouts/static/nope.js",
    ],
)
def test_static_serves_only_layout_js_and_css(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 404


def test_preview_needs_no_livekit(http: httpx.Client) -> None:
    page = http.get("/layouts/crop/preview", params={"participants": 3})
    assert page.status_code == 200
    assert "livekit-client" not in page.text
    assert '"mode": "preview"' in page.text


def test_error_pages(http: httpx.Client) -> None:
    missing = http.get("/layouts/gallery")
    assert missing.status_code == 200, "egress reads div.error only from a page that loaded"
    assert '<div class="error">missing required params url and token</div>' in missing.text
    assert http.get("/layouts/mosaic").status_code == 404
    assert http.get("/layouts/gallery/preview", params={"participants": -1}).status_code == 400
    escaped = http.get("/layouts/gallery", params={"url": "wss://x", "token": "t", "layout": "<script>"})
    assert "<script>" not in escaped.text.split('class="error">')[1]


def test_token_and_title_cannot_break_out_of_the_config(http: httpx.Client) -> None:
    page = http.get(
        "/layouts/gallery",
        params={"url": "wss://x", "token": "</script><script>alert(1)</script>", "title": "</script>"},
    )
    assert page.text.count("</script>") == 5  # the config and 4 scripts, none from the parameters


def test_layouts_index_lists_all_layouts(http: httpx.Client) -> None:
    assert http.get("/layouts", follow_redirects=False).status_code == 308
    index = http.get("/layouts/")
    assert index.status_code == 200
    for name in ("gallery", "active-speaker", "crop"):
        assert f"/layouts/{name}/preview?participants=4" in index.text


def test_installed_assets_win_over_the_checkout(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "orchestrator"
    (package / "_assets").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "layouts", package / "_assets" / "layouts")
    shutil.copytree(REPO_ROOT / "templates", package / "_assets" / "templates")
    assert locate_assets(package).static == package / "_assets" / "layouts"
    checkout = tmp_path / "repo" / "orchestrator"
    checkout.mkdir(parents=True)
    (checkout / "_assets" / "layouts").mkdir(parents=True)  # stale, empty install leftovers
    shutil.copytree(REPO_ROOT / "layouts", tmp_path / "repo" / "layouts")
    shutil.copytree(REPO_ROOT / "templates", tmp_path / "repo" / "templates")
    assert locate_assets(checkout).templates == tmp_path / "repo" / "templates"
    with pytest.raises(FileNotFoundError):
        locate_assets(tmp_path / "nowhere" / "orchestrator")


def test_vendored_livekit_client_matches_the_lockfile() -> None:
    spec = importlib.util.spec_from_file_location("check_vendor", REPO_ROOT / "layouts" / "check_vendor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status, messages = module.check(require=False)
    if not (REPO_ROOT / "node_modules" / "livekit-client").is_dir():
        pytest.skip("node_modules missing; CI runs `npm ci` first")
    assert status == 0, messages
