"""The flow inside a region being removed, completed from the motion around it, without the motion of
a mover that only passes it.

The region is smoothed away before the flow is measured, and the flow inside it and in a band
around it (:func:`.propagate.hole_band`) is completed from the camera's move and a smooth
continuation of the motion around it (:func:`.propagate.complete_flow`), except that a mover much
faster than the camera (a car going by) is left out of that continuation, with the band around it
where the flow smears its motion onto its neighbours, while it covers only part of the region's surroundings: it passes beside or
behind what the region hides far more often than it is what the region hides. Once it covers over
half of them it is taken to be inside the region (its motion is continued into it), and it stays
so along the pass while it still covers some of them: a mover crossing the region leaves most of
its surroundings well before it leaves the region.
"""

from __future__ import annotations

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.classical import propagate as pg

# a mover is fast when its motion beyond the camera's differs from the surroundings' slowest part by
# over this share of the small copy's shorter side
_FAST = 0.05
# share of the region's surroundings a fast mover must cover to be taken as inside the region, and
# the share under which it is no longer taken so
_INSIDE = 0.5
_STILL_INSIDE = 0.1
# the share of the surroundings, slowest first, whose motion beyond the camera's is the reference
_SLOWEST = 25


def region_flow(a: np.ndarray, b: np.ndarray, hole_a: np.ndarray, hole_b: np.ndarray,
                estimator: fl.FlowEstimator, mover_inside: bool) -> tuple[np.ndarray, bool]:
    """Flow ``a -> b`` (small 8-bit grey copies with their holes smoothed away, see
    :func:`.propagate.hole_free`) completed inside the holes and a band around them, and whether a
    fast mover is taken to be inside the region, given ``mover_inside``: whether it was in the
    previous frame pair of the same pass (False at a pass's start, after a cut or a frame without
    a region)."""
    flow = estimator(a, b)
    hole = hole_a | hole_b
    if not hole.any():
        return flow, False
    band, reach = pg.hole_band(hole)
    square = np.ones((2 * reach + 1,) * 2, np.uint8)
    matrix = pg.camera_motion(flow, band, homography=True)
    ring = cv2.dilate(band.astype(np.uint8), square).astype(bool) & ~band
    if matrix is None or not ring.any():  # no camera to be fast against
        return pg.complete_flow(flow, band, matrix), mover_inside
    model = pg.motion_field(matrix, hole.shape)
    residual = flow - model
    around = residual[ring]
    speed = np.hypot(around[:, 0], around[:, 1])
    reference = np.median(around[speed <= np.percentile(speed, _SLOWEST)], axis=0)
    fast = np.hypot(*np.moveaxis(residual - reference, -1, 0)) > _FAST * min(hole.shape)
    share = float(fast[ring].mean())
    mover_inside = share > _INSIDE or (mover_inside and share > _STILL_INSIDE)
    if mover_inside or share == 0:  # (a flow's stray outliers far from the region are no mover)
        return pg.complete_flow(flow, band, matrix), mover_inside
    smeared = cv2.dilate(fast.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
    known = ~band & ~smeared.astype(bool)
    out = flow.copy()
    out[band] = (model + pg.push_pull(residual, known.astype(np.float32)))[band]
    return out, False
