"""How two frames of one shot relate: flow both ways, how much of the change it explains, and
whether they are the same shot at all. Shared by gap fill, extension and outpainting."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.classical.propagate import motion_field

# Gap-fill decision thresholds, set between same-shot pairs and cuts of the test clips (same-shot
# pairs that flow could bridge stayed below all three; cuts had >= 0.95 inconsistent pixels)
MAX_INCONSISTENT = 0.6  # fraction of pixels failing the forward-backward check
MAX_RESIDUAL_RATIO = 0.8  # warped difference / plain difference: flow must explain the change
MAX_HIST_DISTANCE = 0.4  # Bhattacharyya distance of hue/saturation histograms
# gap fill only gives up on flow as a whole across a cut; elsewhere each pixel decides (see
# interpolate.Interpolator), so large motion that flow gets mostly right is still interpolated
CUT_INCONSISTENT = 0.9
CUT_RESIDUAL_RATIO = 0.95
# small pixels per frame: a camera's (or a pixel's) motion slower than this is the estimate's own
# jitter, held still: resampling a still picture by a fraction of a pixel only blurs it
DEAD_ZONE = 0.1


@dataclass
class PairFlow:
    """Flow both ways between two frames (small scale) and how well it explains them."""

    ga: np.ndarray  # the small greyscale copies flow was computed on
    gb: np.ndarray
    fwd: np.ndarray  # a -> b
    bwd: np.ndarray  # b -> a
    err_a: np.ndarray  # forward-backward error at a's pixels
    err_b: np.ndarray
    inconsistent: float
    residual_ratio: float
    hist_distance: float
    camera_move_found: bool = False  # a camera move fitted to features matched between the ends holds

    @classmethod
    def measure(cls, a: np.ndarray, b: np.ndarray, estimator: fl.FlowEstimator,
                size: tuple[int, int]) -> PairFlow:
        return cls.between(fl.small_rgb(a, size), fl.small_rgb(b, size), estimator)

    @classmethod
    def between(cls, sa: np.ndarray, sb: np.ndarray, estimator: fl.FlowEstimator) -> PairFlow:
        """From the small 8-bit RGB copies of the two frames (:func:`flow.small_rgb`)."""
        ga, gb = cv2.cvtColor(sa, cv2.COLOR_RGB2GRAY), cv2.cvtColor(sb, cv2.COLOR_RGB2GRAY)
        return cls.of_fields(ga, gb, estimator(ga, gb), estimator(gb, ga), hist_distance(sa, sb))

    @classmethod
    def aligned(cls, sa: np.ndarray, sb: np.ndarray, estimator: fl.FlowEstimator) -> PairFlow | None:
        """:meth:`between`, with the flow searched from the camera's move between the two frames
        (:func:`camera_move`) rather than from rest: motion too large for the flow's own search (a
        fast pan, a shaken phone at a low rate) fails its round trip nearly everywhere and looks
        like a cut. The colours are compared where the two frames overlap once aligned. None when
        no camera move holds."""
        ga, gb = cv2.cvtColor(sa, cv2.COLOR_RGB2GRAY), cv2.cvtColor(sb, cv2.COLOR_RGB2GRAY)
        move = camera_move(ga, gb)
        if move is None:
            return None
        back = cv2.invertAffineTransform(move)
        h, w = ga.shape
        # b seen from a's frame, and where it has anything to show
        b_in_a = cv2.warpAffine(sb, move, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        overlap = cv2.warpAffine(np.full((h, w), 255, np.uint8), move, (w, h),
                                 flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
        return cls.of_fields(ga, gb, estimator(ga, gb, motion_field(np.vstack([move, [0, 0, 1]]), ga.shape)),
                             estimator(gb, ga, motion_field(np.vstack([back, [0, 0, 1]]), ga.shape)),
                             hist_distance(sa, b_in_a, overlap), camera_move_found=True)

    @classmethod
    def of_fields(cls, ga: np.ndarray, gb: np.ndarray, fwd: np.ndarray, bwd: np.ndarray,
                  hist: float, camera_move_found: bool = False) -> PairFlow:
        """From the small grey copies, their motion fields both ways (however measured: the
        flow, or :mod:`.blocks`' search) and their colour distance ``hist``."""
        err_a, err_b = fl.fb_error(fwd, bwd), fl.fb_error(bwd, fwd)
        # a pixel fails when its round trip misses by >1 px plus 10 % of its motion
        inconsistent = float(np.mean(err_a > 1.0 + 0.1 * fl.speed(fwd)))
        _, residual_ratio = flow_error(ga, gb, fwd)
        return cls(ga, gb, fwd, bwd, err_a, err_b, inconsistent, residual_ratio, hist, camera_move_found)

    @property
    def cut_by_colours(self) -> bool:
        """The ends' colours say two shots and no camera move found between them says one: a
        large object leaving the frame changes the colours as a cut does, but the background
        around it still matches (bench/RESULTS.md, stop 18: the benchmark clips' cuts)."""
        return self.hist_distance >= MAX_HIST_DISTANCE and not self.camera_move_found

    @property
    def is_cut(self) -> bool:
        """The two ends are not the same shot (or flow explains none of the change): dissolve."""
        return (self.cut_by_colours or self.inconsistent >= CUT_INCONSISTENT
                or self.residual_ratio >= CUT_RESIDUAL_RATIO)

    @property
    def bridgeable(self) -> bool:
        return (self.inconsistent < MAX_INCONSISTENT and self.residual_ratio < MAX_RESIDUAL_RATIO
                and self.hist_distance < MAX_HIST_DISTANCE)


def flow_error(a: np.ndarray, b: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, float]:
    """Per pixel, how far ``b`` warped by ``flow`` (a -> b) misses ``a`` (8-bit grey copies, float32
    levels out); and its mean over the unwarped difference's (floored at one level): the share of
    the change between them that flow does not explain."""
    here, there = a.astype(np.float32), b.astype(np.float32)
    err = cv2.absdiff(here, fl.remap(there, flow))
    return err, float(err.mean()) / max(float(cv2.absdiff(here, there).mean()), 1.0)


def hist_distance(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Colour-distribution distance of two small 8-bit RGB copies (0 same .. 1 disjoint), where
    ``mask`` (uint8) is set if given: large across a cut."""
    hists = [cv2.calcHist([cv2.cvtColor(f, cv2.COLOR_RGB2HSV)], [0, 1], mask, [16, 8], [0, 180, 0, 256])
             for f in (a, b)]
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))


# ORB features on a small copy and the share of matches that must agree on one camera move
_FEATURES = 1000
MIN_MOVE_INLIERS = 12  # matches agreeing on a camera move before it is believed (chance gives ~5)
_MOVE_REPROJECTION = 3.0  # small pixels within which a match agrees with the move


def camera_move(ga: np.ndarray, gb: np.ndarray) -> np.ndarray | None:
    """The 2x3 similarity (pan, tilt, roll, zoom) taking ``ga``'s pixels to ``gb``'s, fitted with
    RANSAC to matched ORB features, which find their match however far it moved (small 8-bit
    grey copies); None when fewer than :data:`MIN_MOVE_INLIERS` matches agree on one."""
    orb = cv2.ORB_create(_FEATURES, fastThreshold=10)
    (ka, da), (kb, db) = orb.detectAndCompute(ga, None), orb.detectAndCompute(gb, None)
    if da is None or db is None or min(len(ka), len(kb)) < MIN_MOVE_INLIERS:
        return None
    # a match counts when clearly better than the second best (Lowe's ratio test)
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(da, db, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < 0.8 * m[1].distance]
    if len(good) < MIN_MOVE_INLIERS:
        return None
    src = np.float32([ka[m.queryIdx].pt for m in good])
    dst = np.float32([kb[m.trainIdx].pt for m in good])
    move, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                                ransacReprojThreshold=_MOVE_REPROJECTION)
    if move is None or int(inliers.sum()) < MIN_MOVE_INLIERS:
        return None
    return move.astype(np.float32)
