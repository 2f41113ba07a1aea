"""Stray structure in a made frame: edges that gap fill puts where neither end shows any.

On fast or shaken footage the flow fails, and the interpolator carries pieces of the picture to
places they never were: bits of trees, shadows and feathers pasted over flat snow, sky or wall,
different in each made frame, so they flicker. Such a piece is recognisable locally, without the
missing frame: at its spot both ends are flat (the real picture there shows no structure, in
either frame), the made frame is not, and nothing vouches for it: the flow's round trip fails at
both ends' samples, or both hold and the samples disagree. A moving object that the flow follows
over a flat background is not stray: both ends show it along its motion and agree, or, at its
edges, the one end that is not occluded there shows it.

There the made frame gives way, softly, to a low-pass copy of itself: the stray piece's colours
stay, its edges go. Where the motion is not known this is also the better guess of the missing
frame (what is there is uncertain, so its mean is), which the dissolve is not where the shot moves
(bench/RESULTS.md, "tried and not kept"). Where such a piece moves fast, its place is the more
uncertain and a strong edge outlasts that low-pass: it gives way further, to a wider one
(:func:`fast`); where even that leaves an edge and the flow found nothing sound around it, the
place of what moved there is unknown, and the area around it gives way to a wider low-pass
mixed with the ends' dissolve, which shows nothing at a spot both ends show flat
(:func:`lasting`). Everything is measured on the small copies gap fill's flow uses; only the
low-pass copies and their blends touch the full-size frame (``Interpolator.at``), and only in
the bands of rows that hold stray pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from server.engines import flow as fl

# gradient of the ends (full-size levels a pixel, the larger of the two) from which a spot counts
# as flat .. as not flat: the benchmark's flat areas (bench/seams.py) lie under ~2
FLAT_LEVELS = (1.5, 3.0)
FLAT_RADIUS = 2  # small pixels around a spot that must be flat too (an edge's own halo is no stray)
# ... where the flow found nothing sound around the spot: there a piece beside a real edge is no
# more that edge's own halo than one anywhere else, the flow carried it there too
LOST_RADIUS = 1
# gradient of the made frame (small levels a small pixel) from which it shows structure: a step
# of ~4 .. ~8 levels, about what the benchmark counts as an edge at full size
STRUCTURE_LEVELS = (2.0, 4.0)
AGREE_LEVEL = 8.0  # levels by which the ends' samples differ where they count ~37 % as agreeing
GAIN = 2.0  # the stray measure (0..1, soft) is doubled: a half-sure stray pixel is fully softened
SPREAD = 2.0  # small pixels over which the softening fades out around stray pixels
BLUR = 3.0  # sigma (small pixels) of the low-pass copy that stray pixels give way to
LEAST = 0.02  # softening below which the frame is left as it is (and the full-size work skipped)
# where the stray structure moves fast, its place is the more uncertain (a piece misplaced by a
# share of a frame's motion lands the further off) and it gives way further: to a wider low-pass,
# over a wider spread, from motion of FAST_PACE (share of the frame's width a frame) .. fully;
# where it moves a pixel or two a frame the flow's detail is nearly right and stays
FAST_PACE = (1 / 640, 4 / 640)
FAST_GAIN = 4.0
FAST_WIDEN = 2  # small pixels the fast measure is widened by, before fading out over SPREAD
FAST_BLUR = 6 / 640  # sigma of that low-pass, as a share of the frame's width
# where fast stray structure still shows a gradient of LASTING_LEVELS (full-size levels a pixel:
# about the benchmark's edge) after both low-passes and nothing vouches for its place (the flow's
# lost share where the ends' samples disagree too, times LASTING_LOST_GAIN), the area within
# LASTING_REACH small pixels gives way to a low-pass of LASTING_BLUR (share of the width) mixed
# with the dissolve, LASTING_DISSOLVE of it
LASTING_LEVELS = (2.0, 4.0)
LASTING_LOST_GAIN = 4.0
LASTING_REACH = 10
LASTING_BLUR = 8 / 640
LASTING_DISSOLVE = 0.33
STILL_LEVEL = 2.0  # levels by which the ends (unwarped), and the made frame from them, differ
# where a pixel counts ~37 % as still: the ends' grain is ~1-2 levels on the small copies


def gradient(grey: np.ndarray) -> np.ndarray:
    """Gradient magnitude of a float32 greyscale image, in levels a pixel."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    return fl.magnitude(gx, gy)


def flat_ends(ga: np.ndarray, gb: np.ndarray, full_width: int, radius: int = FLAT_RADIUS,
              lost: np.ndarray | None = None) -> np.ndarray:
    """Per small pixel, how flat both ends are within ``radius`` small pixels of it (1 flat .. 0
    not), from their small greyscale copies (float32); ``full_width``: the full frame's width, to
    measure the gradient in full-size levels a pixel (a ramp's steepness does not depend on the
    copy's size). ``lost`` (small, 0..1): how surely the flow found nothing sound around each
    spot; where surely (1), only :data:`LOST_RADIUS` small pixels around it must be flat."""
    scale = np.float32(ga.shape[1] / full_width)
    g = cv2.max(gradient(ga), gradient(gb)) * scale
    flat = _flat_within(g, radius)
    if lost is None:
        return flat
    # squared: only where the flow clearly found nothing does the check come closer to real edges
    return flat + np.square(lost, dtype=np.float32) * (_flat_within(g, LOST_RADIUS) - flat)


def _flat_within(g: np.ndarray, radius: int) -> np.ndarray:
    """1 .. 0 by the largest gradient ``g`` within ``radius`` pixels (:data:`FLAT_LEVELS`)."""
    size = 2 * radius + 1
    g = cv2.dilate(g, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    lo, hi = FLAT_LEVELS
    return np.clip((hi - g) / np.float32(hi - lo), 0.0, 1.0)


def structure(g: np.ndarray) -> np.ndarray:
    """How surely a made frame shows structure (0 .. 1) by its :func:`gradient` ``g``
    (:data:`STRUCTURE_LEVELS`)."""
    lo, hi = STRUCTURE_LEVELS
    return np.clip((g - lo) / np.float32(hi - lo), 0.0, 1.0)


def spread(m: np.ndarray) -> np.ndarray:
    """A stray measure ``m`` widened by a pixel and faded out over :data:`SPREAD` around it."""
    return cv2.GaussianBlur(cv2.dilate(m, None), (0, 0), SPREAD)


def still(ga: np.ndarray, gb: np.ndarray, made: np.ndarray, static: np.ndarray) -> np.ndarray:
    """Per small pixel, how surely the made frame is right by standing still (1 .. 0): both ends
    show the same there, unwarped (``static``: their dissolve at the made frame's time), and the
    made frame shows it too. Zero motion vouches for such a pixel as a sound flow does for a
    moved one; softening it could only bring the low-pass's neighbours (a misplaced thin line, a
    bar's edge) into a picture that is exactly right."""
    apart = cv2.max(cv2.absdiff(ga, gb), cv2.absdiff(made, static))
    return cv2.exp(-np.square(apart * np.float32(1.0 / STILL_LEVEL)))


def fast(strayed: np.ndarray, motion: np.ndarray, span: int) -> np.ndarray:
    """How much each small pixel should give way further, to the wider low-pass
    (:data:`FAST_BLUR`), by its stray measure ``strayed`` (:func:`stray`) and how fast it moves
    (``motion``: the a->b motion in small pixels over ``span`` frames): :data:`FAST_PACE`."""
    lo, hi = FAST_PACE
    pace = fl.speed(motion) * np.float32(1.0 / (span * motion.shape[1]))
    moving = cv2.GaussianBlur(np.clip((pace - lo) / np.float32(hi - lo), 0.0, 1.0), (0, 0), SPREAD)
    m = cv2.dilate(np.clip(FAST_GAIN * strayed, 0.0, 1.0), None, iterations=FAST_WIDEN)
    return cv2.GaussianBlur(m, (0, 0), SPREAD) * moving


def disagreement(from_a: np.ndarray, from_b: np.ndarray) -> np.ndarray:
    """How surely the ends' small greyscale copies, sampled along the motion (``from_a``,
    ``from_b``), disagree per small pixel (0 .. 1: :data:`AGREE_LEVEL`): where they agree, the
    motion the made frame follows is borne out by both ends, whatever the flow's own checks say."""
    apart = cv2.GaussianBlur(cv2.absdiff(from_a, from_b), (0, 0), SPREAD)
    return 1.0 - cv2.exp(-np.square(apart * np.float32(1.0 / AGREE_LEVEL)))


def lasting(fast_mask: np.ndarray, lost: np.ndarray, softened: np.ndarray, full_width: int) -> np.ndarray:
    """How much each small pixel should give way to the widest low-pass mixed with the dissolve
    (:data:`LASTING_DISSOLVE` of it): around fast stray pixels (``fast_mask``: :func:`fast`)
    whose place nothing vouches for (``lost``, 0..1, made sure by :data:`LASTING_LOST_GAIN`: the
    flow found nothing sound there and the ends' samples along the chosen motion disagree) and
    the made frame, ``softened`` by both low-passes (its small greyscale copy, float32), still
    shows an edge (:data:`LASTING_LEVELS`, measured in full-size levels a pixel of a frame
    ``full_width`` wide), over :data:`LASTING_REACH` small pixels: the whole area such a piece
    may lie in, as a patchy mask would leave its own edges between the pictures it mixes. Not
    where the flow is sound or the motion borne out: there the dissolve is far from right (a pan
    too fast for the gap's own flow, found from the ends' motion), and a moving thing that the
    flow follows can look a little stray at its edges (a ghost beside it)."""
    lo, hi = LASTING_LEVELS
    g = gradient(softened) * np.float32(softened.shape[1] / full_width)
    lost = np.clip(LASTING_LOST_GAIN * lost, 0.0, 1.0)
    m = fast_mask * lost * np.clip((g - lo) / np.float32(hi - lo), 0.0, 1.0)
    size = 2 * LASTING_REACH + 1
    m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return cv2.GaussianBlur(m, (0, 0), LASTING_REACH)


def stray(flat: np.ndarray, made: np.ndarray, disagree: np.ndarray,
          conf_a: np.ndarray, conf_b: np.ndarray, still: np.ndarray) -> np.ndarray:
    """How much each small pixel of a made frame should give way to its low-pass copy (0..1).

    ``flat``: :func:`flat_ends`; ``made``: the made frame's small greyscale copy; ``disagree``:
    :func:`disagreement` of the ends' samples along the motion; ``conf_a``, ``conf_b``: the ends'
    round-trip confidences there (1 where the flow is sound); ``still``: :func:`still`, where the
    made frame is left as it is.

    The made structure is sound where both ends see it and agree, and where only one end sees it
    (the other's round trip fails: an occlusion, which the blend takes from the end that sees it,
    as at a moving edge over a flat background); where neither end's round trip holds, nothing
    vouches for it."""
    both, one = cv2.min(conf_a, conf_b), cv2.max(conf_a, conf_b)
    sound = both * (1.0 - disagree) + (one - both)
    m = spread(flat * structure(gradient(made)) * (1.0 - sound))
    return np.clip(GAIN * m, 0.0, 1.0) * (1.0 - still)
