"""Seams and flicker of made frames, measured against the real frames at the same positions.

Fast footage shows the engine's artefacts as map-like region outlines and thin bright contours
across flat areas (snow, sky) that differ in each made frame, so they flicker in playback, and
outpainting can leave a hard seam at the picture's edge. PSNR barely sees either: they are thin.
Two measures, each taken on the made frames and on the real ones in the same region:

- flicker: the mean absolute second temporal difference of the luma, ``|F(k-1) - 2 F(k) + F(k+1)|``
  (lightly smoothed, so grain counts for little),
  at each made frame with its neighbours in the sequence (the real frames around a gap, the last
  context frame before an extension). Steady motion and a dissolve leave it small; something that
  appears in one frame and not the next doubles it. The real footage's own (motion, grain) is the
  yardstick, so a made sequence flickers "no more than the footage" when its ratio is <= 1;
- edges: the share of the region's pixels where the luma's gradient exceeds :data:`EDGE_LEVEL`
  levels a pixel (after the same smoothing): seam lines and region outlines add edges where the
  real frame has none, and so does content put in the wrong place (both are made structure that
  the real frames do not have there). Where a made frame shows the real picture (within
  :data:`SAME_LEVEL`), it is on the real frame's edges, whatever its own gradient says: a
  one-level difference can tip a faint gradient across the edge level in one frame and not the
  other. Of the made frames' edges where the real frames have none ("made-only"), the share that is sharp (:func:`sharp`: thin contours, hard outlines) is
  reported beside the ratio, and sets no target: the rest are wide ramps, a low-pass spreading a
  strong edge, or soft structure in the wrong place.

Regions: ``flat``, where the real frames (both ends and the truth) have no structure (a blurred
gradient under :data:`FLAT_LEVEL`, eroded so real edges' halos stay out), which is where seams
show; ``all`` the whole frame; for outpainting ``border`` (everything outside the picture) and
``edge``, a band :data:`EDGE_BAND` pixels each side of the picture's edge, where a hard seam shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

EDGE_LEVEL = 2.5  # luma levels a pixel (8-bit) from which a gradient is an edge: a 1-px contour
# 15 levels brighter than its surround, or a step of 8, after the smoothing below
# smoothing before either measure: grain (new in every real frame) is neither an edge nor the
# flicker that playback shows, a 1-px contour still is both
SMOOTH_SIGMA = 1.0
FLAT_LEVEL = 2.0  # blurred gradient (levels a pixel) under which the real picture is flat
FLAT_SIGMA = 2.0
FLAT_ERODE = 3  # pixels kept away from the real picture's structure
MIN_REGION = 0.01  # share of the frame a region needs to be measured at all
EDGE_BAND = 4  # pixels each side of the picture's edge in outpainting's "edge" region
EDGE_FLOOR = 0.002  # share of a region added to both edge densities: a ratio of near-zeros is noise
FLICKER_FLOOR = 0.05  # levels added to both flickers, far below visible: a still test pattern's
# real flicker is ~0.001, and a ratio of two such near-zeros says nothing
# flickers closer than this (levels) are the same: 8-bit frames cannot place a one-level step any
# finer (one pixel in a thousand stepping inside a gap rather than at its join moves a flicker by
# ~0.001: a still chart's codec refresh, which the real frames take in one step and a ramp in two)
FLICKER_RESOLUTION = 0.001
# a made frame shows the real picture at a pixel where its luma is within SAME_LEVEL levels of the
# real frame's at every pixel the gradient there is measured from (SAME_REACH each way: the 9-tap
# Gaussian of SMOOTH_SIGMA and the 3-tap Sobel): 8-bit frames differ by a level wherever they
# are rounded or a codec refreshes (a still chart's faint boxes, whose edges lie near
# EDGE_LEVEL), while a made edge where the real frame has none is several levels off it
SAME_LEVEL = 1
SAME_REACH = 5
# structure is sharp where its gradient at SMOOTH_SIGMA tops EDGE_LEVEL and SHARP_RATIO times its
# gradient at SHARP_SIGMA: at a step's peak the ratio is 4 (a gradient's peak goes as 1 / sigma), at
# a ramp already blurred by a sigma over 3.3 px it is under 1.5 (1 / sqrt(blur² + sigma²) at each)
SHARP_SIGMA = 4.0
SHARP_RATIO = 1.5
# pixels around sharp structure that count with it: a strong step's gradient at sigma 1 still tops
# EDGE_LEVEL up to ~2.6 px from its peak, where the ratio has fallen
SHARP_REACH = 3


def luma(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def gradient(frame: np.ndarray, sigma: float) -> np.ndarray:
    """Gradient magnitude of the luma in levels a pixel, after a Gaussian blur of ``sigma``."""
    y = cv2.GaussianBlur(luma(frame), (0, 0), sigma)
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(y, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    return length(gx, gy)


def length(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sqrt(x² + y²)`` per pixel. Not ``cv2.magnitude``: its vector path rounds by where the
    arrays lie in memory, so the same frames measured later in a run could count an edge pixel
    more or less."""
    return np.sqrt(x * x + y * y)


def flat_region(real: Sequence[np.ndarray]) -> np.ndarray:
    """Where every one of the ``real`` frames is flat (bool mask)."""
    flat = np.ones(real[0].shape[:2], np.uint8)
    for f in real:
        flat &= (gradient(f, FLAT_SIGMA) < FLAT_LEVEL).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * FLAT_ERODE + 1, 2 * FLAT_ERODE + 1))
    return cv2.erode(flat, kernel).astype(bool)


def flicker(sequence: Sequence[np.ndarray], centres: Sequence[int], mask: np.ndarray) -> float:
    """Mean over ``centres`` (indices into ``sequence``, each with a neighbour on both sides) of the
    mean absolute second temporal difference of the (lightly smoothed) luma inside ``mask``."""
    lum = {}

    def at(i: int) -> np.ndarray:
        if i not in lum:
            lum[i] = cv2.GaussianBlur(luma(sequence[i]), (0, 0), SMOOTH_SIGMA)
        return lum[i]

    return float(np.mean([np.abs(at(k - 1) - 2 * at(k) + at(k + 1))[mask].mean() for k in centres]))


def edges(frame: np.ndarray) -> np.ndarray:
    """Where ``frame`` is on an edge (bool mask)."""
    return gradient(frame, SMOOTH_SIGMA) > EDGE_LEVEL


def edge_density(frames: Sequence[np.ndarray], mask: np.ndarray) -> float:
    """Mean over ``frames`` of the share of ``mask``'s pixels on an edge."""
    return _share([edges(f) for f in frames], mask)


def made_edges(made: np.ndarray, real: np.ndarray, real_edges: np.ndarray) -> np.ndarray:
    """Where the ``made`` frame is on an edge, measured beside the ``real`` one at the same
    position (whose :func:`edges` are ``real_edges``): its own edges, but the real frame's where
    it shows the real picture (:data:`SAME_LEVEL`)."""
    size = 2 * SAME_REACH + 1
    same = cv2.dilate(cv2.absdiff(luma(made), luma(real)), np.ones((size, size), np.uint8)) <= SAME_LEVEL
    return np.where(same, real_edges, edges(made))


def made_only_edges(made: np.ndarray, real: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Where, inside ``mask``, the ``made`` frame is on an edge and the ``real`` one at the same
    position is not (bool mask; :func:`made_edges`): the pixels that make a made frame's edge
    density exceed the real frame's."""
    real_edges = edges(real)
    return made_edges(made, real, real_edges) & ~real_edges & mask


def sharp(frame: np.ndarray) -> np.ndarray:
    """Where ``frame``'s structure is sharp, with its flanks (bool mask; see :data:`SHARP_RATIO`
    and :data:`SHARP_REACH`)."""
    fine = gradient(frame, SMOOTH_SIGMA)
    core = (fine > EDGE_LEVEL) & (fine > SHARP_RATIO * gradient(frame, SHARP_SIGMA))
    size = 2 * SHARP_REACH + 1
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.dilate(core.astype(np.uint8), reach).astype(bool)


def compare(made: Sequence[np.ndarray], real: Sequence[np.ndarray], regions: dict[str, np.ndarray],
            before: np.ndarray | None = None, after: np.ndarray | None = None) -> dict[str, dict[str, list[float]]]:
    """Flicker and edge density of the ``made`` frames and of the ``real`` frames at the same
    positions, in each region big enough to measure: ``{region: {"flicker": [made, real],
    "edges": [made, real], "made_only": [all, sharp]}}``, where ``made_only`` is the share of the
    region on made-only edges (:func:`made_only_edges`) and the share on those of them that are
    :func:`sharp`, all means over the frames (no flicker when no made frame has a neighbour on
    both sides). ``before``/``after``: the real frames around them, when there are (a gap has
    both, an extension the last context frame, outpainting none: every frame is made)."""
    if len(made) != len(real):
        raise ValueError(f"{len(made)} made frames against {len(real)} real ones")
    head, tail = [before] if before is not None else [], [after] if after is not None else []
    seqs = [[*head, *frames, *tail] for frames in (made, real)]
    centres = [k for k in range(len(head), len(head) + len(made)) if 0 < k < len(seqs[0]) - 1]
    # each frame's maps once, for every region
    real_edges = [edges(f) for f in real]
    made_on = [made_edges(m, r, e) for m, r, e in zip(made, real, real_edges)]
    only = [m & ~r for m, r in zip(made_on, real_edges)]
    only_sharp = [o & sharp(f) for o, f in zip(only, made)]
    out = {}
    for name, mask in regions.items():
        if mask.mean() < MIN_REGION:
            continue
        row = {"edges": [_share(made_on, mask), _share(real_edges, mask)],
               "made_only": [_share(only, mask), _share(only_sharp, mask)]}
        if centres:
            row["flicker"] = [flicker(seq, centres, mask) for seq in seqs]
        out[name] = row
    return out


def _share(maps: Sequence[np.ndarray], mask: np.ndarray) -> float:
    """Mean over the (bool) ``maps`` of the share of ``mask``'s pixels they cover."""
    return float(np.mean([m[mask].mean() for m in maps]))


def frame_regions(real: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Gap fill's and extension's regions: the real frames' flat area, and the whole frame."""
    return {"flat": flat_region(real), "all": np.ones(real[0].shape[:2], bool)}


def outpaint_regions(shape: tuple[int, int], offset: tuple[int, int], inner: tuple[int, int]) -> dict[str, np.ndarray]:
    """Outpainting's regions: the border, and the band across the picture's edge (inside the canvas)."""
    h, w = shape
    (x, y), (iw, ih) = offset, inner
    border = np.ones((h, w), bool)
    border[y:y + ih, x:x + iw] = False
    outer = np.zeros((h, w), bool)
    outer[max(0, y - EDGE_BAND):y + ih + EDGE_BAND, max(0, x - EDGE_BAND):x + iw + EDGE_BAND] = True
    core = np.zeros((h, w), bool)
    core[y + EDGE_BAND:y + ih - EDGE_BAND, x + EDGE_BAND:x + iw - EDGE_BAND] = True
    # the canvas's own edges are no seam: only the picture's edges that lie inside it
    return {"border": border, "edge": outer & ~core & _inside_edges(shape, offset, inner)}


def _inside_edges(shape: tuple[int, int], offset: tuple[int, int], inner: tuple[int, int]) -> np.ndarray:
    """Pixels near a side of the picture that has canvas beyond it (a side flush with the canvas
    edge has no seam)."""
    h, w = shape
    (x, y), (iw, ih) = offset, inner
    near = np.zeros((h, w), bool)
    b = EDGE_BAND
    if x > 0:
        near[:, max(0, x - b):x + b] = True
    if x + iw < w:
        near[:, x + iw - b:x + iw + b] = True
    if y > 0:
        near[max(0, y - b):y + b, :] = True
    if y + ih < h:
        near[y + ih - b:y + ih + b, :] = True
    return near


def ratios(row: dict[str, list[float]]) -> dict[str, float]:
    """Made over real for each measure (each raised by its floor, :data:`FLICKER_FLOOR` and
    :data:`EDGE_FLOOR`)."""
    out = {}
    if "flicker" in row:
        made, real = row["flicker"]
        out["flicker"] = (made + FLICKER_FLOOR) / (real + FLICKER_FLOOR)
    made, real = row["edges"]
    out["edges"] = (made + EDGE_FLOOR) / (real + EDGE_FLOOR)
    return out


# -- report ---------------------------------------------------------------------------------

# the regions each operation's targets are judged on: (flicker, edges)
JUDGED = {"gap": ("flat", "flat"), "extend": ("flat", "flat"), "outpaint": ("border", "edge")}


def cases(results: dict, made_by: str = "ours") -> dict[tuple[str, str], dict[str, dict[str, list[float]]]]:
    """The seam rows of a benchmark run, per (clip, operation), of the engine's frames (or, with
    ``made_by`` "freeze", of an extension's held last frame): each region's measures averaged over
    the operation's cases, element by element (``[made, real]``; ``made_only``'s ``[all, sharp]``)."""
    out: dict[tuple[str, str], dict[str, dict[str, list[float]]]] = {}

    def add(clip: str, op: str, row: dict) -> None:
        if made_by not in row.get("seams", {}):
            return  # a run from before this measure
        into = out.setdefault((clip, op), {})
        for region, measures in row["seams"][made_by].items():
            for measure, pair in measures.items():
                into.setdefault(region, {}).setdefault(measure, []).append(pair)

    for clip, res in results.items():
        for gap, rows in res.get("gap", {}).items():
            for row in rows:
                add(clip, f"gap {gap}", row)
        for early, row in res.get("ext", {}).items():
            add(clip, f"extend -{early}", row)
        for crop, row in res.get("out", {}).items():
            add(clip, f"outpaint {crop}", row)
    return {key: {region: {m: [float(np.mean([p[0] for p in pairs])), float(np.mean([p[1] for p in pairs]))]
                           for m, pairs in measures.items()}
                  for region, measures in regions.items()}
            for key, regions in out.items()}


# the simple tools whose frames the benchmark measures the same way, beside the engine's: the
# field's motion-compensated interpolator and the cross-dissolve for gap fill, the held last
# frame for an extension, reflect padding and the blurred fill for outpainting
BASELINES = {"minterp": "minterpolate", "dissolve": "dissolve", "freeze": "freeze", "reflect": "reflect",
             "blurred": "blurred"}


def report(results: dict, width: int) -> list[tuple[str, bool, str]]:
    """Prints the seam and flicker table of a benchmark run; returns its targets as (what,
    passed, detail): per clip and operation, made frames flicker no more than the real footage
    (within :data:`FLICKER_RESOLUTION`), and show no more edges than it, in the region where
    seams show (:data:`JUDGED`). An extension's edges are held to the real frames' or the held
    last frame's, whichever shows more: the freeze is a real frame, so what it scores above the later ones is the measure's
    (grain, things moving out of the flat area), not a seam. The :data:`BASELINES`' edge ratios
    in the same region are printed beside the engine's (and named in each edge target's detail)
    as a yardstick; they set no target but the extension's."""
    found = cases(results)
    baselines = {name: cases(results, by) for by, name in BASELINES.items()}
    checks: list[tuple[str, bool, str]] = []
    if not found:
        return checks
    print("\n## Seams and flicker (made frames vs the real ones at the same positions; ratio = made / real)")
    print("flicker: mean |2nd temporal difference| of the luma, 0..255; edges: % of the region's pixels "
          f"with a gradient over {EDGE_LEVEL:g} levels/px; baselines: their edge ratios in the same region")
    widths = [width, 14, 8, 15, 8, 15, 8, 30]
    print("".join(str(c).ljust(wd) for c, wd in zip(
        ["clip", "operation", "region", "flicker m/r", "ratio", "edges % m/r", "ratio", "baselines' edge ratios"],
        widths)))
    per_op: dict[tuple[str, str], list[dict[str, float]]] = {}
    per_op_baselines: dict[tuple[str, str, str], list[float]] = {}
    for (clip, op), regions in found.items():
        kind = op.split()[0]
        for region, row in regions.items():
            r = ratios(row)
            per_op.setdefault((op, region), []).append(r)
            theirs = {name: ratios(by[(clip, op)][region])["edges"] for name, by in baselines.items()
                      if region in by.get((clip, op), {})}
            for name, ratio in theirs.items():
                per_op_baselines.setdefault((op, region, name), []).append(ratio)
            fl = row.get("flicker")
            cells = [clip, op, region, f"{fl[0]:.2f} / {fl[1]:.2f}" if fl else "-",
                     f"{r['flicker']:.2f}" if fl else "-",
                     f"{100 * row['edges'][0]:.2f} / {100 * row['edges'][1]:.2f}", f"{r['edges']:.2f}",
                     _named(theirs, "{:.2f}")]
            print("".join(str(c).ljust(wd) for c, wd in zip(cells, widths)))
            judged_flicker, judged_edges = JUDGED[kind]
            if region == judged_flicker and fl:
                made, real = fl
                checks.append((f"seams {op} {clip}: made frames flicker no more than the real footage ({region})",
                               made <= real + FLICKER_RESOLUTION, f"{r['flicker']:.3f}x the real frames' "
                               f"({made:.4f} / {real:.4f} levels)"))
            if region == judged_edges:
                beside = {name: ratio for name, ratio in theirs.items() if name != "freeze"}
                detail = f"{r['edges']:.3f}x the real frames'" + (f" ({_named(beside, '{:.3f}x')})" if beside else "")
                made_only_detail = _made_only(row["made_only"]) if "made_only" in row else ""  # (older runs)
                if "freeze" not in theirs:
                    checks.append((f"seams {op} {clip}: no more edges than the real frames ({region})",
                                   r["edges"] <= 1.0, detail + made_only_detail))
                else:
                    bound = max(1.0, theirs["freeze"])
                    checks.append((f"seams {op} {clip}: no more edges than the real frames or the held frame "
                                   f"({region})", r["edges"] <= bound,
                                   f"{detail}, the held frame {bound:.3f}x{made_only_detail}"))
    for (op, region), rs in sorted(per_op.items()):
        flick = [r["flicker"] for r in rs if "flicker" in r]
        theirs = {name: float(np.mean(per_op_baselines[(op, region, name)])) for name in BASELINES.values()
                  if (op, region, name) in per_op_baselines}
        cells = ["MEAN", op, region, "", f"{np.mean(flick):.2f}" if flick else "-", "",
                 f"{np.mean([r['edges'] for r in rs]):.2f}", _named(theirs, "{:.2f}")]
        print("".join(str(c).ljust(wd) for c, wd in zip(cells, widths)))
    return checks


def _made_only(shares: list[float]) -> str:
    """A region's ``made_only`` shares (``[all, sharp]``: :func:`compare`) as a target's detail."""
    everything, sharp_ones = shares
    if everything <= 0:
        return "; no made-only edges"
    return f"; made-only edges on {100 * everything:.3f} % of it, {100 * sharp_ones / everything:.0f} % of them sharp"


def _named(figures: dict[str, float], form: str) -> str:
    """``{"dissolve": 0.88}`` as ``dissolve 0.88`` (comma-separated; "-" when empty)."""
    return ", ".join(f"{name} {form.format(v)}" for name, v in figures.items()) or "-"
