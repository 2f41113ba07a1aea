"""The guided filter (He, Sun and Tang, 2010): a low-pass of a picture that follows the structure
of another (the guide). Over each box it is the guide's best linear fit to the picture, averaged
over the boxes that cover a pixel: where the guide shows an edge the output has it, in the
picture's colours; where the guide is flat (its variance under ``eps``) the output is the box
mean. Gap fill's and extension's softenings use it so that what they low-pass loses the structure
the real picture is not known to have without ramps of it spreading into flat areas."""

from __future__ import annotations

import cv2
import numpy as np


def guided_filter(picture: np.ndarray, guide: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """``picture`` (any channels; uint8, uint16 or float32) filtered over boxes of ``radius``
    pixels each way by the grey float32 ``guide`` of the same size, in ``picture``'s dtype; ``eps``:
    the guide's variance (in its levels squared) under which a box counts as flat."""
    size = (2 * radius + 1,) * 2

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    g = guide.astype(np.float32, copy=False)
    mean_g = mean(g)
    var_g = mean(g * g) - mean_g * mean_g  # the guide's own, once for every channel
    p = picture.astype(np.float32, copy=False)
    if p.ndim == 3:  # the guide's planes broadcast over the picture's channels
        g, mean_g, var_g = g[..., None], mean_g[..., None], var_g[..., None]
    mean_p = mean(p)
    slope = (mean(g * p) - mean_g * mean_p) / (var_g + np.float32(eps))
    offset = mean_p - slope * mean_g
    out = mean(slope) * g + mean(offset)
    if picture.dtype == np.uint8:
        return cv2.convertScaleAbs(out)  # rounds and saturates
    if picture.dtype == np.uint16:
        return cv2.multiply(out, 1.0, dtype=cv2.CV_16U)
    return out
