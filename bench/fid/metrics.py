"""PSNR, SSIM and border flicker of made frames against the real ones."""

from __future__ import annotations

import math

import cv2
import numpy as np

MSE_FLOOR = 1e-10  # identical frames score this error rather than an infinite PSNR
EXACT_DB = 10 * math.log10(255.0 ** 2 / MSE_FLOOR)  # ...that is, this PSNR


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = a.astype(np.float32) - b.astype(np.float32)
    mse = float(np.mean(np.square(d[mask] if mask is not None else d)))
    return 10 * math.log10(255.0 ** 2 / max(mse, MSE_FLOOR))


def _luma(f: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32)


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """SSIM of the luma (Gaussian window, sigma 1.5), averaged over ``mask`` when given."""
    x, y = _luma(a), _luma(b)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z):
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m[mask].mean() if mask is not None else m.mean())


def flicker(frames: list[np.ndarray], mask: np.ndarray) -> float:
    return float(np.mean([np.abs(b.astype(np.float32) - a.astype(np.float32))[mask].mean()
                          for a, b in zip(frames, frames[1:])]))
