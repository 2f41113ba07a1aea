"""Stray structure in an extension: edges the moved picture puts where the last frame is flat.

An extension carries the last frame's structure along the motion it continues. Where the shot
keeps moving as it did, that structure lands where the next real frames show it; where the motion
turns (a whip pan that swings away, a camera that rotates back, a mover that slows), it lands
on sky, snow or wall that the real frames show flat, as stretched tracks and smeared outlines
that the freeze would not have. The backtest says how far the shot's own past bears the continued
motion out (the share of the freeze's error it removes); what it does not vouch for is the
doubt. Edges that moved onto a spot where the last frame is flat give way to a low-pass copy of
the made frame by that doubt: their colours stay, their outlines go. The doubt is the shot's, or
the spot's where the motion predicted the part of the picture a pixel comes from worse than the
shot as a whole (a part that turns while the rest pans on); and where the doubt times the distance
the pixel moved says its structure may lie well away from the real frames', it gives way wholly
wherever the low-pass lowers its gradient, and fading only as the low-pass raises it, instead of
by how much the low-pass lowers it. The gap fill's measures
(:mod:`server.engines.classical.stray`) judge flatness and structure, on the motion's small copies.
"""

from __future__ import annotations

import numpy as np

from server.engines.classical import stray

BLUR = 4.0  # sigma (small pixels) of the low-pass copy that the made frame gives way to
GAIN = 3.0  # the stray measure (flatness x structure x doubt, 0..1) is tripled: a third-sure
# stray pixel is fully softened
# small pixels around a spot that must be flat too: one, not the gap fill's two
# (stray.FLAT_RADIUS): a motion that runs on a little too far lays an edge just a pixel or two
# past where the last frame shows it, which the wider halo would count as the edge's own
FLAT_RADIUS = 1
# small pixels: the doubt times the distance a pixel moved is about how far its structure may lie
# from where the real frames have it; from this far on (twice the low-pass's width), a stray pixel
# gives way wholly where the low-pass lowers its gradient and by g_moved / g_low where it raises
# it, not by how much it lowers it (broad ridges, which a low-pass only halves, would keep half
# their outline)
MISPLACED = 8.0


def flat_last(grey: np.ndarray, full_width: int) -> np.ndarray:
    """Per small pixel, how flat the last frame is around it (1 flat .. 0 not), from its small
    greyscale copy (float32); ``full_width``: the full frame's width (the gradient in full-size
    levels a pixel, as :func:`stray.flat_ends`)."""
    return stray.flat_ends(grey, grey, full_width, FLAT_RADIUS)


def softening(flat: np.ndarray, moved: np.ndarray, low: np.ndarray, doubt: float | np.ndarray,
              travel: np.ndarray) -> np.ndarray | None:
    """How much each small pixel of a made frame should give way to its low-pass copy (0..1), or
    None where nothing should.

    ``flat``: :func:`flat_last`; ``moved``, ``low``: the made frame's small greyscale copy and its
    low-pass (:data:`BLUR`); ``doubt``: the share of the freeze's error that the backtest did not
    see the motion remove (0: the motion predicted the shot's past exactly, nothing softens), for
    the shot or per pixel; ``travel``: how far each pixel moved (small pixels). All greyscale
    inputs are in 8-bit levels.
    While the structure's place is still likely right, by how much the low-pass lowers the
    gradient, and not at all where it raises it: next to a strong edge the low-pass carries that
    edge's ramp onto the flat side, which would add the edges this removes. Where the doubt times
    the distance moved says its place is likely wrong (:data:`MISPLACED`), wholly where the
    low-pass lowers the gradient, fading by ``g_moved / g_low`` where it raises it."""
    doubt = np.asarray(doubt, dtype=np.float32)
    if float(doubt.max()) <= 0.0:
        return None
    g_moved, g_low = stray.gradient(moved), stray.gradient(low)
    m = stray.spread(flat * stray.structure(g_moved) * doubt)
    g_moved = np.maximum(g_moved, np.float32(1e-3))
    lowers = np.clip(1.0 - g_low / g_moved, 0.0, 1.0)
    misplaced = np.clip(doubt * travel * np.float32(1.0 / MISPLACED), 0.0, 1.0)
    check = lowers + misplaced * (np.clip(g_moved / np.maximum(g_low, np.float32(1e-3)), 0.0, 1.0) - lowers)
    m = np.clip(GAIN * m, 0.0, 1.0) * check
    return m if float(m.max()) > stray.LEAST else None
