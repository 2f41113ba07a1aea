"""Block motion search with a wide reach, for motion the dense flow cannot follow, and the check
that decides where gap fill uses it.

DIS flow searches a few pixels around its coarse estimate; a shaken phone at a low frame rate
moves the picture tens of pixels between the ends of a gap (and rolls and zooms it), and the flow
then fails its round trip nearly everywhere, so the gap is dissolved. A coarse-to-fine block
search (as in MEMC and ffmpeg's minterpolate) reaches that far: a full search on the coarsest
copy of a small pyramid, then at each finer copy a few candidates per block (the coarser level's
vector, its neighbours', no motion) and a local refinement, each block's cost counted over a
window twice its size (neighbouring blocks overlap) plus a little for departing from the
neighbours' vectors. Its fields both ways make a :class:`PairFlow` that the frame interpolator
uses as it uses the flow's.

Whether the block fields suit a shot is the shot's own context's to say, as in
:mod:`.selfcheck`: real frames on each side of the gap, as many as the gap has, are held back and
remade both ways from the ends of their stretch, and the block fields are used only where they
remake them better than what gap fill does otherwise (the flow's frames, or the dissolve where
the flow calls the pair a cut)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.classical import selfcheck
from server.engines.classical.interpolate import Interpolator, MotionCurve
from server.engines.classical.scene import PairFlow, hist_distance

BLOCK = 8  # block size (pixels of each pyramid level)
COARSEST = 4  # blocks across the coarsest level's short side, at least
# how far the search reaches, as a share of the picture's long side: a shaken phone at 10 fps
# moves the picture by up to a tenth of its width across a 3-frame gap
REACH = 0.13
# matching cost (levels) added per pixel of difference from the neighbours' median vector: a
# candidate that matches no better than that is not worth a break in the field
SMOOTH_COST = 0.25
# how much more of the change between the gap's ends the block fields may leave unexplained than
# between a held-back stretch's (as a share of theirs): same-span pairs of one shot differ by that
# much from one to the next
LIKE_SLACK = 0.1

_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _levels(shape: tuple[int, int]) -> int:
    """Pyramid levels below the full size, down to the smallest that still holds
    :data:`COARSEST` blocks across."""
    levels = 0
    while min(shape) // 2 ** (levels + 1) >= COARSEST * BLOCK:
        levels += 1
    return levels


def _block_costs(ga: np.ndarray, gb: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Per block, the mean absolute difference between ``ga`` and ``gb`` moved by that block's
    vector ((nby, nbx, 2)), over a window twice the block's size around it."""
    h, w = ga.shape
    dense = _to_pixels(np.repeat(np.repeat(vectors, BLOCK, 0), BLOCK, 1), h, w)
    return _windows(cv2.absdiff(ga, fl.remap(gb, dense)), *vectors.shape[:2])


def _shift_costs(ga: np.ndarray, padded_b: np.ndarray, radius: int, dx: int, dy: int,
                 nby: int, nbx: int) -> np.ndarray:
    """:func:`_block_costs` of one whole-pixel shift for every block, from ``gb`` edge-padded by
    ``radius`` (the same values as remapping it, at a fraction of the cost)."""
    h, w = ga.shape
    moved = padded_b[radius + dy:radius + dy + h, radius + dx:radius + dx + w]
    return _windows(cv2.absdiff(ga, moved), nby, nbx)


def _windows(diff: np.ndarray, nby: int, nbx: int) -> np.ndarray:
    """Per block, the mean of ``diff`` over a window twice the block's size around its centre."""
    h, w = diff.shape
    window = cv2.boxFilter(diff, -1, (2 * BLOCK, 2 * BLOCK), borderType=cv2.BORDER_REFLECT)
    ys = np.minimum(np.arange(nby) * BLOCK + BLOCK // 2, h - 1)
    xs = np.minimum(np.arange(nbx) * BLOCK + BLOCK // 2, w - 1)
    return window[np.ix_(ys, xs)]


def _to_pixels(dense: np.ndarray, h: int, w: int) -> np.ndarray:
    """A field at block multiples cut, or edge-padded, to (h, w)."""
    dense = dense[:h, :w]
    ph, pw = h - dense.shape[0], w - dense.shape[1]
    if ph or pw:
        dense = np.pad(dense, ((0, ph), (0, pw), (0, 0)), mode="edge")
    return np.ascontiguousarray(dense, dtype=np.float32)


def _shifted(vectors: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Each block given the vector of its neighbour at (-dy, -dx), the edges' own at the edges."""
    h, w = vectors.shape[:2]
    padded = np.pad(vectors, ((1, 1), (1, 1), (0, 0)), mode="edge")
    return np.ascontiguousarray(padded[1 - dy:1 - dy + h, 1 - dx:1 - dx + w])


def _neighbour_median(vectors: np.ndarray) -> np.ndarray:
    around = [_shifted(vectors, dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    return np.median(np.stack(around), axis=0)


def _choose(ga: np.ndarray, gb: np.ndarray, vectors: np.ndarray, cost: np.ndarray,
            candidates: Iterable[tuple[np.ndarray, np.ndarray | None]]) -> None:
    """Keeps per block the candidate with the lowest matching cost plus :data:`SMOOTH_COST`
    (``vectors`` and ``cost``, the plain matching cost, updated in place); each candidate comes
    with its costs, or None to have them measured."""
    median = _neighbour_median(vectors)
    score = cost + SMOOTH_COST * np.abs(vectors - median).sum(axis=2)
    for cand, c in candidates:
        if c is None:
            c = _block_costs(ga, gb, cand)
        s = c + SMOOTH_COST * np.abs(cand - median).sum(axis=2)
        better = s < score
        vectors[better] = cand[better]
        cost[better] = c[better]
        score[better] = s[better]


def block_field(ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """Dense motion ``ga -> gb`` (``ga(x) ~ gb(x + v(x))``, float32 (h, w, 2)) of two 8-bit grey
    copies of one size, from a block search reaching :data:`REACH` of their long side."""
    levels = _levels(ga.shape)
    radius = int(np.ceil(REACH * max(ga.shape) / 2 ** levels))
    pyramid = [(ga.astype(np.float32), gb.astype(np.float32))]
    for _ in range(levels):
        pyramid.append(tuple(cv2.pyrDown(g) for g in pyramid[-1]))
    vectors = None
    for pa, pb in reversed(pyramid):
        h, w = pa.shape
        nby, nbx = -(-h // BLOCK), -(-w // BLOCK)
        if vectors is None:  # the coarsest level: every whole-pixel shift within reach
            vectors = np.zeros((nby, nbx, 2), np.float32)
            padded_b = cv2.copyMakeBorder(pb, *(radius,) * 4, cv2.BORDER_REPLICATE)
            cands = ((np.full((nby, nbx, 2), (dx, dy), np.float32),
                      _shift_costs(pa, padded_b, radius, dx, dy, nby, nbx))
                     for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if dx or dy)
        else:
            vectors = 2.0 * cv2.resize(vectors, (nbx, nby), interpolation=cv2.INTER_NEAREST)
            cands = ((v, None) for v in [np.zeros_like(vectors)] + [_shifted(vectors, dy, dx) for dy, dx in _NEIGHBOURS])
        cost = _block_costs(pa, pb, vectors)
        _choose(pa, pb, vectors, cost, cands)
        for _ in range(2):  # local refinement, twice: the neighbours' vectors spread too
            refine = [vectors + np.float32((dx, dy)) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dx or dy]
            refine += [_shifted(vectors, dy, dx) for dy, dx in _NEIGHBOURS]
            _choose(pa, pb, vectors, cost, ((v, None) for v in refine))
    # from block centres to pixels: a smooth field (the interpolator's own search at each time
    # sharpens it at motion boundaries)
    field = cv2.resize(vectors, (vectors.shape[1] * BLOCK, vectors.shape[0] * BLOCK),
                       interpolation=cv2.INTER_LINEAR)
    return _to_pixels(field, *ga.shape)


def block_pair(sa: np.ndarray, sb: np.ndarray, camera_move_found: bool = False) -> PairFlow:
    """The two frames' motion both ways from :func:`block_field`, measured as a :class:`PairFlow`
    (small 8-bit RGB copies, as :meth:`PairFlow.between`); ``camera_move_found``: whether a camera
    move between them holds (:meth:`PairFlow.aligned`), which the search itself does not look for."""
    ga, gb = cv2.cvtColor(sa, cv2.COLOR_RGB2GRAY), cv2.cvtColor(sb, cv2.COLOR_RGB2GRAY)
    return PairFlow.of_fields(ga, gb, block_field(ga, gb), block_field(gb, ga), hist_distance(sa, sb),
                              camera_move_found)


def _remade(run: Sequence[np.ndarray], held: int, pair: PairFlow | None,
            flow_quality: str) -> list[np.ndarray]:
    """The ``held`` frames between ``run[1]`` and ``run[held + 2]`` (small copies, with the frame
    beyond each end) as gap fill makes them from ``pair``, the path bent by the motion beyond
    the ends where it bends (as :meth:`Interpolator.at`, at the small size); dissolved when
    ``pair`` is None."""
    a, b = run[1], run[held + 2]
    times = [(i + 1) / (held + 1) for i in range(held)]
    if pair is None:
        return [cv2.addWeighted(a, 1.0 - t, b, t, 0.0) for t in times]
    interp = Interpolator(a, b, pair, MotionCurve(run[0], a, b, run[-1], a, b, held + 1, flow_quality))
    return [interp.small_at(t) for t in times]


def blocks_win(before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
               gap: PairFlow, size: tuple[int, int], flow_quality: str,
               flow: Callable[[np.ndarray, np.ndarray], PairFlow] | None) -> bool:
    """Whether the block fields (``gap``: the gap's own, :func:`block_pair`) suit this shot
    better than gap fill's other way: the flow's frames (``flow``: how gap fill measures a pair's
    flow, from small RGB copies) or, when ``flow`` is None, the dissolve.

    On each side, the stretch nearest the gap with up to ``frames`` real frames held back between
    its ends (and one beyond each end, for the motion's curve) is remade at ``size`` (width,
    height) both ways, and the summed absolute errors compared. The check can only speak for a
    gap like the stretches it remade: so the answer is no unless some side holds back as many
    frames as the gap has, and unless the block fields explain the change between the gap's
    ends about as well as between the ends of some stretch (their residual ratios within
    :data:`LIKE_SLACK`): ends that differ by more than the shot's own frames the same distance
    apart hold what the context does not show (a cut, a thing coming into view)."""
    runs, covered = selfcheck.stretches(before, after, frames)
    if not covered:
        return False
    sides, stretches = (before, after), []
    for k, indices, nearest in runs:
        if nearest:
            run = [fl.small_rgb(sides[k][i], size) for i in indices]
            held = len(run) - 4
            stretches.append((run, held, block_pair(run[1], run[held + 2])))
    if not any(gap.residual_ratio <= (1.0 + LIKE_SLACK) * searched.residual_ratio for _, _, searched in stretches):
        return False
    errors = np.zeros(2)
    for run, held, searched in stretches:
        a, b = run[1], run[held + 2]
        for way, pair in enumerate((searched, None if flow is None else flow(a, b))):
            for made, real in zip(_remade(run, held, pair, flow_quality), run[2:held + 2]):
                errors[way] += float(cv2.absdiff(made, real).astype(np.float32).sum())
    return bool(errors[0] < errors[1])
