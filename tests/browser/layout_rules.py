"""The documented layout rules, as data and checks: the oracle for the browser tests.

Gallery sizes are the figures of the reference (``shared/reference/layouts.md`` §1.3, Mux's
"Zoom-like gallery" at each preset); crop rows, the screen-share column and the overlays are
the rules written down in ``layouts/README.md`` ("Geometry"). The layout code itself
lives in ``layouts/geometry.js``; nothing here computes a layout, it only checks one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOLERANCE_PX = 2
VIEWPORTS = ((1920, 1080), (1280, 720), (1080, 1920), (1080, 1080))

# Tile width x height per participant count, from the reference.
GALLERY: dict[tuple[int, int], dict[int, tuple[int, int]]] = {
    (1920, 1080): {
        1: (1706, 960), 2: (885, 497), 3: (826, 465), 4: (826, 465), 5: (580, 326),
        6: (580, 326), 7: (533, 300), 8: (533, 300), 9: (533, 300), 10: (427, 240),
    },
    (1280, 720): {
        1: (1066, 600), 2: (565, 317), 3: (506, 285), 4: (506, 285), 5: (366, 205),
        6: (366, 205), 7: (320, 180), 8: (320, 180), 9: (320, 180), 10: (267, 150),
    },
    (1080, 1920): {
        1: (1080, 607), 2: (1080, 607), 3: (1080, 607), 4: (839, 472), 5: (535, 535),
        6: (535, 535), 7: (472, 472), 8: (472, 472), 9: (376, 376), 10: (376, 376),
    },
    (1080, 1080): {
        1: (1060, 1060), 2: (525, 525), 3: (525, 525), 4: (525, 525), 5: (346, 346),
        6: (346, 346), 7: (346, 346), 8: (346, 346), 9: (346, 346), 10: (257, 257),
    },
}

# Tiles per row, top to bottom, for the crop layout.
CROP_ROWS: dict[str, dict[int, list[int]]] = {
    "landscape": {
        1: [1], 2: [2], 3: [3], 4: [2, 2], 5: [3, 2], 6: [3, 3], 7: [4, 3], 8: [4, 4], 9: [5, 4], 10: [5, 5],
    },
    "square": {
        1: [1], 2: [1, 1], 3: [2, 1], 4: [2, 2], 5: [2, 2, 1], 6: [2, 2, 2], 7: [3, 2, 2], 8: [3, 3, 2],
        9: [3, 3, 3],
    },
    "portrait": {
        1: [1], 2: [1, 1], 3: [1, 1, 1], 4: [2, 2], 5: [2, 2, 1], 6: [2, 2, 2], 7: [2, 2, 2, 1],
        8: [2, 2, 2, 2],
    },
}

# Slots (tiles including the "+N" overflow tile) before overflow starts.
MAX_SLOTS = {"gallery": 10, "gallery-column": 10, "landscape": 10, "square": 9, "portrait": 8}

GALLERY_PAD, GALLERY_GAP = 60, 30  # landscape gallery with a screen share


@dataclass(frozen=True)
class Tile:
    kind: str
    layer: str
    x: float
    y: float
    w: float
    h: float
    text: str = ""

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


def orientation(width: int, height: int) -> str:
    if abs(width - height) <= 2:
        return "square"
    return "landscape" if width > height else "portrait"


def near(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= TOLERANCE_PX


def slots_for(n: int, limit: int) -> tuple[int, int]:
    """(participant tiles, hidden participants) for n participants and a slot limit."""
    if n <= limit:
        return n, 0
    return limit - 1, n - (limit - 1)


def expected_kinds(layout: str, width: int, height: int, n: int, screens: int) -> dict[str, int]:
    orient = orientation(width, height)
    if screens:
        if layout == "gallery" and orient == "landscape":
            cams, hidden = slots_for(n, MAX_SLOTS["gallery-column"])
            return {"screen": screens, "camera": cams, "overflow": 1 if hidden else 0}
        return {"screen": screens, "camera": 1, "overflow": 0}
    if layout == "active-speaker":
        return {"screen": 0, "camera": 1, "overflow": 0}
    limit = MAX_SLOTS["gallery"] if layout == "gallery" else MAX_SLOTS[orient]
    cams, hidden = slots_for(n, limit)
    return {"screen": 0, "camera": cams, "overflow": 1 if hidden else 0}


def common_problems(tiles: list[Tile], width: int, height: int) -> list[str]:
    """Every tile inside the viewport; no two tiles of the same layer overlap."""
    problems = []
    for t in tiles:
        if t.x < -0.5 or t.y < -0.5 or t.right > width + 0.5 or t.bottom > height + 0.5:
            problems.append(f"{t.kind} tile {t} outside {width}x{height}")
        if t.w < 1 or t.h < 1:
            problems.append(f"{t.kind} tile {t} is empty")
    for i, a in enumerate(tiles):
        for b in tiles[i + 1 :]:
            if a.layer != b.layer:
                continue
            overlap_w = min(a.right, b.right) - max(a.x, b.x)
            overlap_h = min(a.bottom, b.bottom) - max(a.y, b.y)
            if overlap_w > 0.5 and overlap_h > 0.5:
                problems.append(f"tiles overlap: {a} and {b}")
    return problems


def _is_16_9(t: Tile) -> bool:
    return near(t.h, t.w * 9 / 16)


def _pip(layout: str, width: int, height: int) -> tuple[float, float, float]:
    """(w, h, offset) of the speaker overlay over a screen share."""
    orient = orientation(width, height)
    s = min(width, height) / 1080
    if orient == "landscape":
        k = width / 1920
        w, h = 383 * k, 215.44 * k
    elif orient == "square":
        w = h = 240 * s
    else:
        w = h = 360 * s
    offset = 0 if layout == "crop" else (60 if orient == "square" else 36) * s
    return math.floor(w), math.floor(h), offset


def size_problems(layout: str, width: int, height: int, n: int, screens: int, tiles: list[Tile]) -> list[str]:
    """Tile sizes and places against the documented rules."""
    orient = orientation(width, height)
    cams = [t for t in tiles if t.kind in ("camera", "overflow")]
    shares = [t for t in tiles if t.kind == "screen"]
    problems: list[str] = []

    def expect(cond: bool, message: str) -> None:
        if not cond:
            problems.append(message)

    if not screens and layout == "gallery":
        w, h = GALLERY[(width, height)][min(n, MAX_SLOTS["gallery"])]
        for t in cams:
            expect(near(t.w, w) and near(t.h, h), f"gallery tile {t.w}x{t.h}, documented {w}x{h}")
    elif not screens and layout == "crop":
        rows = CROP_ROWS[orient][min(n, MAX_SLOTS[orient])]
        ys = sorted({round(t.y) for t in cams})
        expect([sum(1 for t in cams if round(t.y) == y) for y in ys] == rows, f"crop rows {ys}, want {rows}")
        for t in cams:
            count = sum(1 for o in cams if round(o.y) == round(t.y))
            expect(near(t.w, width / count) and near(t.h, height / len(rows)), f"crop tile {t}")
        expect(near(sum(t.w * t.h for t in cams) / width, height), "crop tiles do not fill the viewport")
    elif not screens:
        (t,) = cams
        expect(near(t.w, width) and near(t.h, height), f"active speaker {t.w}x{t.h} not full frame")
    elif layout == "gallery" and orient == "landscape":
        col_w = round((600 if n > 5 else 400) * min(1, width / 1920))
        col_x = width - GALLERY_PAD - col_w
        inner_h = height - 2 * GALLERY_PAD
        slots = len(cams)
        cols = 1 if slots <= 5 else 2
        rows = math.ceil(slots / cols)
        cell_w = (col_w - (cols - 1) * GALLERY_GAP) / cols
        cell_h = (inner_h - (rows - 1) * GALLERY_GAP) / rows
        for t in cams:
            inside = t.x >= col_x - 0.5 and t.right <= width - GALLERY_PAD + 0.5
            expect(inside, f"column tile {t} outside column")
            expect(_is_16_9(t), f"column tile {t} not 16:9")
            fitted = min(cell_w, cell_h * 16 / 9)
            expect(near(t.w, fitted), f"column tile {t}, cell {cell_w:.0f}x{cell_h:.0f}")
        for t in shares:
            area_w = col_x - GALLERY_GAP - GALLERY_PAD
            expect(t.x >= GALLERY_PAD - 0.5 and t.right <= col_x - GALLERY_GAP + 0.5, f"screen {t} left area")
            expect(_is_16_9(t), f"screen {t} not 16:9")
            if len(shares) == 1:
                expect(near(t.w, area_w) or near(t.h, inner_h), f"screen {t} does not fill its area")
    elif layout == "active-speaker" and orient == "landscape":
        col_w = round(400 * min(1, width / 1920))
        (t,) = cams
        expect(near(t.w, col_w) and near(t.h, col_w * 9 / 16) and near(t.right, width), f"speaker {t}")
        for s in shares:
            expect(s.right <= width - col_w + 0.5 and _is_16_9(s), f"screen {s}")
            if len(shares) == 1:
                expect(near(s.w, width - col_w) or near(s.h, height), f"screen {s} does not fill its area")
    else:
        w, h, offset = _pip(layout, width, height)
        (t,) = cams
        expect(t.layer == "overlay", "speaker over a screen share is not an overlay")
        expect(near(t.w, w) and near(t.h, h), f"overlay {t.w}x{t.h}, documented {w}x{h}")
        cornered = near(t.right, width - offset) and near(t.bottom, height - offset)
        expect(cornered, f"overlay {t} offset {offset}")
        for s in shares:
            expect(_is_16_9(s), f"screen {s} not 16:9")
            if len(shares) == 1:
                expect(near(s.w, width) or near(s.h, height), f"screen {s} does not fill the stage")
    return problems
