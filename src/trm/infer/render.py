"""Showing how an answer evolves: a coloured terminal trace, grid images per step (PNG strip or GIF), and the
per-step accuracy plot of ``trm eval``. Images need pillow (the ``plot`` extra)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np

from ..tasks import Task
from ..utils import TRMError, install_hint

RESET, BOLD, DIM, YELLOW, GREEN, RED, CYAN = (
    "\033[0m",
    "\033[1m",
    "\033[2m",
    "\033[33m",
    "\033[32m",
    "\033[31m",
    "\033[36m",
)

MARKS = {"path": CYAN, "end": GREEN}  # terminal style of a cell a task marks (Task.marks)
UNKNOWN = (255, 0, 255)  # image fill of a symbol outside the task's palette


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")


def _swatch(ch: str, task: Task, colour: bool) -> str:
    rgb = task.palette.get(ch)
    if not colour or rgb is None:
        return ch * 2
    r, g, b = rgb
    return f"\033[48;2;{r};{g};{b}m  {RESET}"


def format_grid(
    cells: np.ndarray,
    task: Task,
    previous: np.ndarray | None = None,
    givens: np.ndarray | None = None,
    colour: bool = True,
) -> list[str]:
    """Lines of a grid of 1-character symbols; cells that changed since ``previous`` are highlighted."""
    lines = []
    for r, row in enumerate(cells):
        out = []
        for c, ch in enumerate(row):
            if task.swatches:
                out.append(_swatch(ch, task, colour))
                continue
            changed = previous is not None and previous.shape == cells.shape and previous[r, c] != ch
            style = ""
            if colour:
                if changed:
                    style = BOLD + YELLOW
                elif givens is not None and givens[r, c]:
                    style = DIM
                elif ch in task.marks:
                    style = MARKS[task.marks[ch]]
            out.append(f"{style}{ch}{RESET}" if style else ch)
        lines.append(("" if task.swatches else " ").join(out))
    return lines


def trace_text(
    frames: list[np.ndarray],
    confidences: list[float],
    task: Task,
    givens: np.ndarray | None = None,
    colour: bool = True,
) -> str:
    """The answer after every supervision step, side by side where the terminal is wide enough."""
    width = os.get_terminal_size().columns if sys.stdout.isatty() else 120
    blocks = []
    prev = None
    for k, (cells, conf) in enumerate(zip(frames, confidences, strict=True)):
        changed = 0 if prev is None or prev.shape != cells.shape else int((prev != cells).sum())
        head = f"step {k + 1}  p={conf:.2f}" + (f"  {changed} changed" if k else "")
        blocks.append((head, format_grid(cells, task, prev, givens, colour), cells.shape[1] * 2))
        prev = cells
    out, row = [], []
    used = 0
    for block in blocks:
        w = max(len(block[0]), block[2]) + 3
        if row and used + w > width:
            out.append(_join(row))
            row, used = [], 0
        row.append((block, w))
        used += w
    if row:
        out.append(_join(row))
    return "\n\n".join(out)


def _join(row) -> str:
    height = max(len(b[1]) for b, _ in row)
    lines = ["".join(b[0].ljust(w) for b, w in row)]
    for i in range(height):
        parts = []
        for (_, grid, gw), w in row:
            text = grid[i] if i < len(grid) else ""
            parts.append(text + " " * max(0, w - gw))
        lines.append("".join(parts))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ images


def _pil():
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise TRMError(f"drawing images needs pillow: {install_hint('plot')}") from None
    return Image, ImageDraw


def grid_image(
    cells: np.ndarray,
    task: Task,
    box: tuple[int, int] | None = None,
    givens: np.ndarray | None = None,
    previous: np.ndarray | None = None,
    title: str = "",
    cell: int = 0,
):
    """One frame: the grid as an image, changed cells outlined, with a title line."""
    Image, ImageDraw = _pil()
    h, w = cells.shape
    cell = cell or max(6, min(40, 480 // max(h, w)))
    top = 16
    img = Image.new("RGB", (w * cell + 1, h * cell + top + 1), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((2, 2), title, fill=(0, 0, 0))
    for r in range(h):
        for c in range(w):
            ch = str(cells[r, c])
            x0, y0 = c * cell, top + r * cell
            if task.palette:
                fill = task.palette.get(ch, UNKNOWN)
            else:
                fill = (235, 235, 235) if givens is not None and givens[r, c] else (255, 255, 255)
            d.rectangle([x0, y0, x0 + cell, y0 + cell], fill=fill, outline=(180, 180, 180))
            if not task.palette and ch not in ".":
                changed = previous is not None and previous[r, c] != cells[r, c]
                d.text(
                    (x0 + cell // 2 - 3, y0 + cell // 2 - 6), ch, fill=(200, 40, 0) if changed else (0, 0, 0)
                )
            elif previous is not None and previous.shape == cells.shape and previous[r, c] != cells[r, c]:
                d.rectangle([x0 + 1, y0 + 1, x0 + cell - 1, y0 + cell - 1], outline=(255, 160, 0), width=2)
    if box is not None:
        br, bc = box
        for r in range(0, h + 1, br):
            d.line([0, top + r * cell, w * cell, top + r * cell], fill=(0, 0, 0), width=2)
        for c in range(0, w + 1, bc):
            d.line([c * cell, top, c * cell, top + h * cell], fill=(0, 0, 0), width=2)
    return img


def save_trace_images(
    frames: list[np.ndarray],
    confidences: list[float],
    task: Task,
    path: str | Path,
    box: tuple[int, int] | None = None,
    givens: np.ndarray | None = None,
) -> str:
    """``.gif``: one frame per step; anything else (``.png``): all steps in one image, 8 per row."""
    Image, _ = _pil()
    if not frames:
        raise TRMError("nothing to draw: the trace is empty")
    size = max(max(f.shape) for f in frames)
    cell = max(6, min(40, 480 // size))
    images = []
    prev = None
    for k, (cells, conf) in enumerate(zip(frames, confidences, strict=True)):
        images.append(grid_image(cells, task, box, givens, prev, f"step {k + 1}  p={conf:.2f}", cell))
        prev = cells
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        w = max(i.width for i in images)
        h = max(i.height for i in images)
        frames_rgb = []
        for im in images:
            canvas = Image.new("RGB", (w, h), (255, 255, 255))
            canvas.paste(im, (0, 0))
            frames_rgb.append(canvas)
        frames_rgb[0].save(path, save_all=True, append_images=frames_rgb[1:], duration=600, loop=0)
    else:
        per_row = min(8, len(images))
        w = max(i.width for i in images) + 8
        h = max(i.height for i in images) + 8
        rows = -(-len(images) // per_row)
        sheet = Image.new("RGB", (per_row * w, rows * h), (255, 255, 255))
        for i, im in enumerate(images):
            sheet.paste(im, ((i % per_row) * w + 4, (i // per_row) * h + 4))
        sheet.save(path)
    return str(path)


def plot_per_step(report: dict, path: str | Path) -> str:
    """Exact and token accuracy after each supervision step as a line chart (PNG). Returns a note."""
    try:
        Image, ImageDraw = _pil()
    except TRMError as e:
        return f"skipped {Path(path).name}: {e}"
    rows = report["per_step"]
    W, H, m = 520, 320, 44
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle([m, 20, W - 20, H - m], outline=(0, 0, 0))
    for i in range(0, 11, 2):
        y = H - m - (H - m - 20) * i / 10
        d.line([m - 4, y, m, y], fill=(0, 0, 0))
        d.text((4, y - 6), f"{i / 10:.1f}", fill=(0, 0, 0))
    n = len(rows)

    def xy(k: int, v: float) -> tuple[float, float]:
        x = m + (W - 20 - m) * (k / max(n - 1, 1))
        return x, H - m - (H - m - 20) * v

    for key, colour in (("exact_accuracy", (0, 90, 200)), ("token_accuracy", (230, 120, 0))):
        pts = [xy(k, r[key]) for k, r in enumerate(rows)]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for x, y in pts:
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    for k, r in enumerate(rows):
        x, _ = xy(k, 0)
        d.text((x - 3, H - m + 6), str(r["step"]), fill=(0, 0, 0))
    d.text((W // 2 - 60, H - 18), "supervision step", fill=(0, 0, 0))
    d.text((m + 6, 4), "exact (blue) and token (orange) accuracy", fill=(0, 0, 0))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return f"wrote {path}"


def plot_frontier(points: list[dict], path: str | Path) -> str:
    """Exact accuracy against network calls per puzzle (log scale), one colour per selector, points of one
    selector and depth joined in order of calls (PNG, pillow). Returns a note."""
    try:
        Image, ImageDraw = _pil()
    except TRMError as e:
        return f"skipped {Path(path).name}: {e} (the JSON has the numbers)"
    W, H, m = 640, 400, 48
    img = Image.new("RGB", (W, H), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle([m, 20, W - 150, H - m], outline=(0, 0, 0))
    lo = math.log2(min(p["calls_per_puzzle"] for p in points))
    hi = max(math.log2(max(p["calls_per_puzzle"] for p in points)), lo + 1)

    def xy(calls: float, acc: float) -> tuple[float, float]:
        return m + (W - 150 - m) * (math.log2(calls) - lo) / (hi - lo), H - m - (H - m - 20) * acc

    for i in range(0, 11, 2):
        d.text((4, H - m - (H - m - 20) * i / 10 - 6), f"{i / 10:.1f}", fill=(0, 0, 0))
    for e in range(math.ceil(lo), math.floor(hi) + 1):
        x = xy(2.0**e, 0)[0]
        d.line([x, H - m, x, H - m + 4], fill=(0, 0, 0))
        d.text((x - 6, H - m + 6), str(2**e), fill=(0, 0, 0))
    d.text((m + 120, H - 18), "network calls per puzzle (log scale)", fill=(0, 0, 0))
    d.text((m + 6, 4), "exact accuracy", fill=(0, 0, 0))
    colours = [(0, 90, 200), (230, 120, 0), (0, 150, 60), (200, 0, 60), (120, 60, 180), (90, 90, 90)]
    names = list(dict.fromkeys(p["select"] for p in points))
    for c, name in enumerate(names):
        colour = colours[c % len(colours)]
        d.text((W - 140, 30 + 16 * c), name, fill=colour)
        for depth in sorted({p["max_steps"] for p in points if p["select"] == name}):
            line = sorted(
                (p for p in points if p["select"] == name and p["max_steps"] == depth),
                key=lambda p: p["calls_per_puzzle"],
            )
            pts = [xy(p["calls_per_puzzle"], p["exact_accuracy"]) for p in line]
            if len(pts) > 1:
                d.line(pts, fill=colour, width=2)
            for x, y in pts:
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return f"wrote {path}"
