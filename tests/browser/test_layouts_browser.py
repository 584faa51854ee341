"""The layout pages in headless Chromium, through the preview: geometry, signals, errors, options."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from layout_rules import (
    VIEWPORTS,
    Tile,
    common_problems,
    expected_kinds,
    size_problems,
)

pytestmark = pytest.mark.browser

LAYOUTS = ("gallery", "active-speaker", "crop")
SCREENSHOT_COUNTS = (1, 5, 12)

READ_TILES = """() => Array.from(document.querySelectorAll('#stage .tile')).map(t => {
  const r = t.getBoundingClientRect();
  return {kind: t.dataset.kind, layer: t.dataset.layer, x: r.x, y: r.y, w: r.width, h: r.height,
          text: t.innerText};
})"""


class LayoutPage:
    """A Chromium tab that records console lines and reads tiles."""

    def __init__(self, browser: Any, base: str, width: int, height: int) -> None:
        viewport = {"width": width, "height": height}
        self.context = browser.new_context(viewport=viewport, reduced_motion="reduce")
        self.page = self.context.new_page()
        self.base = base
        self.console: list[str] = []
        self.errors: list[str] = []
        self.page.on("console", lambda msg: self.console.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, path: str, **params: object) -> None:
        self.console.clear()
        query = urlencode({k: v for k, v in params.items() if v is not None})
        self.page.goto(f"{self.base}{path}?{query}" if query else f"{self.base}{path}")

    def wait_started(self) -> None:
        self.page.wait_for_function("document.documentElement.dataset.recording === 'started'", timeout=5000)

    def tiles(self) -> list[Tile]:
        return [Tile(**t) for t in self.page.evaluate(READ_TILES)]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, layouts_server: str) -> Any:
    pages: list[LayoutPage] = []

    def make(width: int = 1280, height: int = 720) -> LayoutPage:
        page = LayoutPage(browser, layouts_server, width, height)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()


@pytest.mark.parametrize("screens", [0, 1], ids=["cameras", "screenshare"])
@pytest.mark.parametrize("viewport", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_geometry_for_1_to_12_participants(
    tab: Any, layout: str, viewport: tuple[int, int], screens: int, artifacts_dir: Path
) -> None:
    width, height = viewport
    page = tab(width, height)
    problems: list[str] = []
    for n in range(1, 13):
        page.open(f"/layouts/{layout}/preview", participants=n, screenshare=screens, speaking=n - 1)
        page.wait_started()
        tiles = page.tiles()
        where = f"{layout} {width}x{height} n={n} screens={screens}"
        if page.console.count("START_RECORDING") != 1:
            problems.append(f"{where}: console {page.console}")
        kinds = {kind: sum(1 for t in tiles if t.kind == kind) for kind in ("screen", "camera", "overflow")}
        want = expected_kinds(layout, width, height, n, screens)
        if kinds != want:
            problems.append(f"{where}: tiles {kinds}, want {want}")
            continue
        overflow = [t for t in tiles if t.kind == "overflow"]
        if overflow:
            shown = kinds["camera"]
            if overflow[0].text.strip() != f"+{n - shown}":
                problems.append(f"{where}: overflow says {overflow[0].text!r}, want +{n - shown}")
        problems += [f"{where}: {p}" for p in common_problems(tiles, width, height)]
        problems += [f"{where}: {p}" for p in size_problems(layout, width, height, n, screens, tiles)]
        if n in SCREENSHOT_COUNTS:
            shot = artifacts_dir / f"{layout}-{width}x{height}-n{n}-s{screens}.png"
            page.page.screenshot(path=str(shot))
    assert not page.errors
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("viewport", [(1279, 719), (1919, 1079), (1079, 1080), (1081, 1920)])
def test_viewport_one_pixel_off_the_preset(tab: Any, viewport: tuple[int, int]) -> None:
    width, height = viewport
    preset = {(1279, 719): (1280, 720), (1919, 1079): (1920, 1080), (1079, 1080): (1080, 1080)}.get(
        viewport, (1080, 1920)
    )
    page = tab(width, height)
    for layout in LAYOUTS:
        for n in (1, 4, 7, 10):
            page.open(f"/layouts/{layout}/preview", participants=n)
            page.wait_started()
            tiles = page.tiles()
            assert common_problems(tiles, width, height) == []
            if layout == "gallery":
                problems = size_problems(layout, *preset, n, 0, tiles)
                assert problems == [], f"{layout} n={n} at {width}x{height}: {problems}"
            if layout == "active-speaker":
                (tile,) = tiles
                assert (tile.w, tile.h) == (width, height), "a 1 px difference must not letterbox the speaker"
            if layout == "crop":
                assert sum(t.w * t.h for t in tiles) == width * height


def test_start_recording_within_a_second_and_end_on_disconnect(tab: Any) -> None:
    page = tab(1920, 1080)
    page.open("/layouts/gallery/preview", participants=6)
    page.wait_started()
    timing = page.page.evaluate(
        "() => [performance.timing.navigationStart, Number(document.documentElement.dataset.startMs),"
        " document.documentElement.dataset.startReason]"
    )
    assert timing[2] == "frame", "preview starts on the first decoded frame"
    assert timing[1] < 1000, f"START_RECORDING after {timing[1]} ms"
    page.page.evaluate("() => window.__layoutPreview.disconnect()")
    page.page.wait_for_function("document.documentElement.dataset.recording === 'ended'")
    assert page.console.count("START_RECORDING") == 1
    assert page.console.count("END_RECORDING") == 1


def test_start_rules_audio_only_and_timeout(tab: Any) -> None:
    page = tab()
    page.open("/layouts/crop/preview", participants=0)
    page.page.wait_for_timeout(600)
    assert "START_RECORDING" not in page.console, "an empty room has nothing to show"
    run_signal = """async ([probe, timeoutMs]) => {
      const Signal = window.EgressLayout.RecordingSignal;
      const constants = [Signal.AUDIO_ONLY_MS, Signal.TIMEOUT_MS];
      Signal.TIMEOUT_MS = timeoutMs;
      const t0 = performance.now();
      const signal = new Signal(() => probe);
      while (!signal.started && performance.now() - t0 < 3000) await new Promise(r => setTimeout(r, 20));
      Signal.TIMEOUT_MS = constants[1];
      return [constants, signal.started ? Math.round(performance.now() - t0) : null];
    }"""
    audio_only = {"videos": 0, "subscriptions": 2, "decoded": False}
    constants, elapsed = page.page.evaluate(run_signal, [audio_only, 5000])
    assert constants == [500, 5000]
    assert elapsed is not None and 500 <= elapsed < 900
    undecoded = {"videos": 1, "subscriptions": 1, "decoded": False}
    _, elapsed = page.page.evaluate(run_signal, [undecoded, 1200])
    assert elapsed is not None and 1200 <= elapsed < 1600, "video that never decodes starts at the timeout"
    nothing = {"videos": 0, "subscriptions": 0, "decoded": False}
    _, elapsed = page.page.evaluate(run_signal, [nothing, 800])
    assert elapsed is None, "nothing subscribed: never starts"


def test_metadata_switches_the_layout_live(tab: Any, artifacts_dir: Path) -> None:
    page = tab(1920, 1080)
    page.open("/layouts/gallery/preview", participants=5, speaking=2)
    page.wait_started()
    assert page.page.evaluate("document.getElementById('stage').dataset.arrangement") == "gallery"
    hook = "m => window.__layoutPreview.setRecorderMetadata(m)"
    assert page.page.evaluate(hook, json.dumps({"layout": "crop"})) == "crop"
    tiles = page.tiles()
    assert size_problems("crop", 1920, 1080, 5, 0, tiles) == []
    page.page.screenshot(path=str(artifacts_dir / "switch-to-crop.png"))
    assert page.page.evaluate(hook, json.dumps({"layout": "speaker"})) == "active-speaker"
    (tile,) = page.tiles()
    assert "Alan Turing" in tile.text, "the synthetic active speaker (index 2) fills the frame"
    # Not JSON, unknown layout, no layout: ignored.
    for metadata in ("not json", json.dumps({"layout": "nope"}), json.dumps({"x": 1}), ""):
        assert page.page.evaluate(hook, metadata) == "active-speaker"
    assert page.page.evaluate("document.documentElement.dataset.layout") == "active-speaker"
    assert page.console.count("START_RECORDING") == 1
    assert not page.errors


def test_names_stay_visible_on_camera_off_tiles(tab: Any) -> None:
    page = tab(1920, 1080)
    page.open("/layouts/gallery/preview", participants=4)
    page.wait_started()
    visible = page.page.evaluate(
        """() => {
          const tile = document.querySelector('.tile.camera-off');
          const label = tile.querySelector('.name');
          const r = label.getBoundingClientRect();
          const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
          return [label.textContent, top === label, getComputedStyle(label).display];
        }"""
    )
    assert visible == ["Katherine Johnson", True, "block"]


def test_options_title_background_theme_and_hidden_names(tab: Any, artifacts_dir: Path) -> None:
    page = tab(1280, 720)
    page.open(
        "/layouts/crop/preview", participants=3, title="Quarterly <b>review</b>", background="#123456",
        theme="light", show_names="false",
    )
    page.wait_started()
    state = page.page.evaluate(
        """() => [document.querySelector('.title').textContent,
                  getComputedStyle(document.getElementById('stage')).backgroundColor,
                  document.documentElement.classList.contains('theme-light'),
                  Array.from(document.querySelectorAll('.tile .name')).every(n => n.hidden)]"""
    )
    assert state == ["Quarterly <b>review</b>", "rgb(18, 52, 86)", True, True]
    page.page.screenshot(path=str(artifacts_dir / "options-light-title.png"))
    page.open("/layouts/gallery/preview", participants=2, background="https://example.invalid/bg.jpg")
    page.wait_started()
    style = page.page.evaluate(
        "() => { const s = getComputedStyle(document.getElementById('stage'));"
        " return [s.backgroundImage, s.backgroundSize]; }"
    )
    assert style == ['url("https://example.invalid/bg.jpg")', "cover"]


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/layouts/gallery", {}, "missing required params url and token"),
        ("/layouts/gallery", {"url": "wss://lk.example", "token": ""}, "missing required params"),
        ("/layouts/gallery", {"url": "wss://lk.example", "token": "t", "layout": "mosaic"}, "unknown layout"),
        ("/layouts/gallery", {"url": "ftp://x", "token": "t"}, "url:"),
        ("/layouts/crop", {"url": "wss://lk.example", "token": "t", "theme": "sepia"}, "theme:"),
        ("/layouts/crop", {"url": "wss://lk.example", "token": "t", "background": "url(x)"}, "background:"),
        ("/layouts/crop", {"url": "wss://lk.example", "token": "t", "show_names": "maybe"}, "show_names:"),
        ("/layouts/mosaic", {"url": "wss://lk.example", "token": "t"}, "unknown layout"),
        ("/layouts/gallery/preview", {"participants": "many"}, "participants:"),
        ("/layouts/gallery/preview", {"participants": "2", "screenshare": "3"}, "screenshare:"),
        ("/layouts/gallery/preview", {"width": "1280"}, "width:"),
    ],
)
def test_bad_parameters_render_div_error(tab: Any, path: str, params: dict[str, str], reason: str) -> None:
    page = tab()
    page.open(path, **params)
    text = page.page.evaluate("document.querySelector('div.error')?.innerText")
    assert text and reason in text
    assert "START_RECORDING" not in page.console


def test_live_page_loads_livekit_and_waits_for_the_room(tab: Any) -> None:
    page = tab()
    # Chrome refuses port 9 at once: all three attempts fail (1 s + 2 s of back-off).
    page.open("/layouts/gallery", url="ws://127.0.0.1:9", token="e30.e30.sig", layout="", template="crop")
    page.page.wait_for_function("window.EgressLayoutRoom !== undefined")
    state = page.page.evaluate(
        """() => [typeof LivekitClient.Room, document.documentElement.dataset.layout,
                  document.querySelector('div.error'), window.EgressLayoutRoom.state]"""
    )
    assert state[:3] == ["function", "crop", None], "template= is the fallback for an empty layout="
    page.page.wait_for_function("document.documentElement.dataset.connection === 'failed'", timeout=8000)
    assert "START_RECORDING" not in page.console
    assert "END_RECORDING" not in page.console, "a failed connection is not the end of a recording"
    assert not page.errors


def test_layouts_gallery_shows_previews(tab: Any, artifacts_dir: Path) -> None:
    page = tab(1600, 1000)
    page.open("/layouts/")
    assert page.page.locator("h2").all_inner_texts() == ["gallery", "active-speaker", "crop"]
    frames = page.page.locator("iframe")
    assert frames.count() == 12
    page.page.wait_for_timeout(800)
    page.page.screenshot(path=str(artifacts_dir / "gallery-index.png"), full_page=True)


def test_preview_width_and_height_fix_the_stage_size(tab: Any) -> None:
    page = tab(1280, 720)
    page.open("/layouts/gallery/preview", participants=3, width=1080, height=1080)
    page.wait_started()
    stage = page.page.evaluate(
        "() => { const r = document.getElementById('stage').getBoundingClientRect();"
        " return [r.width, r.height]; }"
    )
    assert stage == [1080, 1080]
    assert size_problems("gallery", 1080, 1080, 3, 0, page.tiles()) == []
