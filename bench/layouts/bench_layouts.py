"""Bytes a layout page transfers and time to START_RECORDING, against LiveKit's and Mux's templates.

Usage (from the repository root; needs Debian's /usr/bin/chromium):
    .venv/bin/python bench/layouts/bench_layouts.py [--runs 7]
"""

from __future__ import annotations

import argparse
import gzip
import platform
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import uvicorn  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from orchestrator.domain.layouts import LAYOUT_NAMES  # noqa: E402
from orchestrator.layouts import create_layouts_app  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
# Reference figures (shared/reference/layouts.md): raw bytes.
REFERENCES = [
    ("LiveKit template-default", 1_294_000, 20_000, 0, 0),
    ("Mux broadcast layouts", 888_000, 763, 557_380, 0),
]
TARGET_TOTAL, TARGET_OWN, TARGET_START_MS = 700_000, 40_000, 1000


def serve() -> tuple[str, uvicorn.Server, socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_layouts_app(), log_level="warning", access_log=False, lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, sock


def page_bytes(browser, url: str) -> dict[str, dict[str, int]]:
    """Bytes of each JS/CSS/font response the page loads: raw and gzip -9 of the body."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    seen: dict[str, dict[str, int]] = {}

    def on_response(response) -> None:
        kind = response.request.resource_type
        if kind in ("script", "stylesheet", "font"):
            body = response.body()
            seen[response.url] = {"raw": len(body), "gzip": len(gzip.compress(body, 9)), "kind": kind}

    page.on("response", on_response)
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)
    page.close()
    return seen


def start_ms(browser, url: str) -> float:
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.goto(url)
    page.wait_for_function("document.documentElement.dataset.recording === 'started'", timeout=10_000)
    value = float(page.evaluate("Number(document.documentElement.dataset.startMs)"))
    page.close()
    return value


def kb(n: float) -> str:
    return f"{n / 1000:,.1f} KB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base, server, sock = serve()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    ws = f"ws://127.0.0.1:{silent.getsockname()[1]}"
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name in LAYOUT_NAMES:
            live = page_bytes(browser, f"{base}/layouts/{name}?" + urlencode({"url": ws, "token": "x.y.z"}))
            vendor = sum(v["raw"] for u, v in live.items() if "/vendor/" in u)
            own_js = sum(v["raw"] for u, v in live.items() if v["kind"] == "script" and "/vendor/" not in u)
            css = sum(v["raw"] for v in live.values() if v["kind"] == "stylesheet")
            fonts = sum(v["raw"] for v in live.values() if v["kind"] == "font")
            gz = sum(v["gzip"] for v in live.values())
            preview = page_bytes(browser, f"{base}/layouts/{name}/preview?participants=4")
            times = {}
            cases = (("4 cams", "participants=4"), ("12 cams + share", "participants=12&screenshare=1"))
            for label, query in cases:
                url = f"{base}/layouts/{name}/preview?{query}"
                samples = [start_ms(browser, url) for _ in range(args.runs)]
                times[label] = (statistics.median(samples), max(samples))
            preview_total = sum(v["raw"] for v in preview.values())
            rows.append((name, vendor, own_js, css, fonts, gz, preview_total, times))
        browser.close()
    server.should_exit = True
    silent.close()

    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    header = f"{'page':34} {'JS':>11} {'CSS':>9} {'font':>10} {'total raw':>11} {'gzip':>10}"
    print(f"{header}  own JS+CSS")
    for ref, js, css, font, _ in REFERENCES:
        print(f"{ref:34} {kb(js):>11} {kb(css):>9} {kb(font):>10} {kb(js + css + font):>11} {'':>10}")
    ok = True
    for name, vendor, own_js, css, fonts, gz, preview_total, _ in rows:
        total = vendor + own_js + css + fonts
        own = own_js + css
        ok &= total <= TARGET_TOTAL and own <= TARGET_OWN
        print(
            f"{'ours: /layouts/' + name:34} {kb(vendor + own_js):>11} {kb(css):>9} {kb(fonts):>10} "
            f"{kb(total):>11} {kb(gz):>10}  {kb(own)} "
            f"(livekit-client {kb(vendor)}; preview page {kb(preview_total)})"
        )
    print(f"\ntime from navigation to START_RECORDING in preview, 1920x1080, median / max of {args.runs}:")
    for name, *_, times in rows:
        cells = "   ".join(f"{label}: {med:.0f} / {worst:.0f} ms" for label, (med, worst) in times.items())
        ok &= all(worst <= TARGET_START_MS for _, worst in times.values())
        print(f"  {name:16} {cells}")
    targets = f"total <= {kb(TARGET_TOTAL)}, own <= {kb(TARGET_OWN)}, start <= {TARGET_START_MS} ms"
    print(f"\ntargets: {targets}: " + ("met" if ok else "MISSED"))
    sock.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
