"""The placeholder slate the classical engine makes for ``generate``.

It has to be unmistakable on a timeline (so nobody ships it) and useful (the prompt, the frame,
the range are readable, so the clip can be re-rendered later by a real model). OpenCV 5's
``FontFace`` renders any Unicode prompt; older OpenCV falls back to the ASCII Hershey font.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

import cv2
import numpy as np

from server.engines.base import EngineJob

TITLE = "PLACEHOLDER \u2014 ShotForge"
_WHITE = (255, 255, 255)
_AMBER = (255, 190, 0)
_GREY = (170, 170, 170)


class _Font:
    """Measure and draw one line of text, with whichever putText this OpenCV has."""

    def __init__(self) -> None:
        self._face = cv2.FontFace("sans") if hasattr(cv2, "FontFace") else None

    @staticmethod
    def _ascii(text: str) -> str:
        """What the Hershey font can draw: dashes and dots mapped, accents dropped, the rest '?'."""
        text = text.translate({0x2014: "-", 0x2013: "-", 0x00B7: "|", 0x2026: "..."})
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        return text.encode("ascii", "replace").decode("ascii")

    def width(self, text: str, px: int, bold: bool = False) -> int:
        if self._face is not None:
            return cv2.getTextSize((0, 0), text, (0, px), self._face, px, 700 if bold else 400)[2]
        scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, px)
        thickness = max(1, px // (10 if bold else 18))
        return cv2.getTextSize(self._ascii(text), cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0][0]

    def draw(self, img: np.ndarray, text: str, org: tuple[int, int], px: int,
             color: tuple[int, int, int], bold: bool = False) -> None:
        if self._face is not None:
            cv2.putText(img, text, org, color, self._face, px, 700 if bold else 400)
        else:
            scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, px)
            cv2.putText(img, self._ascii(text), org, cv2.FONT_HERSHEY_SIMPLEX, scale, color,
                        max(1, px // (10 if bold else 18)), cv2.LINE_AA)


def _wrap(font: _Font, text: str, px: int, width: int, max_lines: int) -> list[str]:
    """Greedy wrap to ``width`` pixels, at spaces or, for runs too long (or scripts without
    spaces), between characters; the last line gets an ellipsis if text is left over."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        for part in _split_long(font, word, px, width):
            candidate = f"{line} {part}" if line else part
            if line and font.width(candidate, px) > width:
                lines.append(line)
                line = part
            else:
                line = candidate
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-2].rstrip(".,;: ") + " \u2026"
    return lines


def _split_long(font: _Font, word: str, px: int, width: int) -> list[str]:
    parts = [""]
    for ch in word:
        if parts[-1] and font.width(parts[-1] + ch, px) > width:
            parts.append("")
        parts[-1] += ch
    return parts


def _background(size: tuple[int, int], reference: np.ndarray | None) -> np.ndarray:
    """A dimmed copy of the reference (cover-fit), or a plain dark grey."""
    w, h = size
    if reference is None:
        return np.full((h, w, 3), 32, np.uint8)
    ref = reference if reference.dtype == np.uint8 else (reference >> 8).astype(np.uint8)
    rh, rw = ref.shape[:2]
    scale = max(w / rw, h / rh)
    resized = cv2.resize(ref, (max(w, round(rw * scale)), max(h, round(rh * scale))),
                         interpolation=cv2.INTER_AREA)
    y0, x0 = (resized.shape[0] - h) // 2, (resized.shape[1] - w) // 2
    return (resized[y0:y0 + h, x0:x0 + w] * 0.3).astype(np.uint8)


def slates(frames: int, size: tuple[int, int], job: EngineJob, reference: np.ndarray | None,
           dtype: type) -> Iterator[np.ndarray]:
    """Yield ``frames`` slates of ``size`` (width, height) in ``dtype``; each shows its own index."""
    w, h = size
    font = _Font()
    unit = max(8, min(h // 18, w // 30))  # body text height in pixels
    margin = max(4, w // 20)
    base = _background(size, reference)
    stripe = max(2, unit // 3)
    cv2.rectangle(base, (stripe // 2, stripe // 2), (w - 1 - stripe // 2, h - 1 - stripe // 2),
                  _AMBER, stripe)
    title_px = 2 * unit  # shrunk to fit narrow (e.g. vertical) frames
    title_px = max(6, min(title_px, title_px * (w - 2 * margin) // max(1, font.width(TITLE, title_px, True))))
    y = margin + title_px
    font.draw(base, TITLE, (margin, y), title_px, _AMBER, bold=True)
    y += unit + unit // 2
    small_px = max(8, unit * 2 // 3)
    for line in _wrap(font, "Stand-in clip: re-render it with a video model (engine: diffusers).",
                      small_px, w - 2 * margin, 2):
        font.draw(base, line, (margin, y), small_px, _GREY)
        y += small_px + small_px // 3
    y += unit
    prompt = job.prompt.strip() or "(no prompt)"
    rows_left = max(1, (h - y - 4 * unit) // (unit + unit // 3))
    for line in _wrap(font, f"Prompt: {prompt}", unit, w - 2 * margin, rows_left):
        font.draw(base, line, (margin, y), unit, _WHITE)
        y += unit + unit // 3
    span = job.options.get("range")
    range_text = f"range {span[0]}\u2013{span[1]}" if span else f"frames 1\u2013{frames}"
    footer = f"{range_text}  \u00b7  {float(job.rate):.3f} fps  \u00b7  seed {job.seed}"
    font.draw(base, footer, (margin, h - margin - unit - unit // 2), small_px, _GREY)
    bar_y = h - margin // 2 - stripe
    for i in range(frames):
        job.check_cancel()
        img = base.copy()
        font.draw(img, f"frame {i + 1} / {frames}", (margin, h - margin), unit, _WHITE, bold=True)
        cv2.rectangle(img, (margin, bar_y), (margin + (w - 2 * margin) * (i + 1) // frames, bar_y + stripe),
                      _AMBER, -1)
        yield img if dtype == np.uint8 else img.astype(np.uint16) * np.uint16(257)
        job.progress((i + 1) / frames, "placeholder slate")
