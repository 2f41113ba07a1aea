"""Frames of the shared clips, decoded with PyAV, how close two frames are, and the benchmark
scripts under bench/ loaded as modules (the fidelity benchmark's seam measure: what its seam
targets count)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from tests.shared_data import VIDEO, shared

#: the OpenCV build and the code of its IPP that golden checksums were recorded with: bit-exact
#: renders depend on both (IPP's AVX-512 code rounds some float results differently from its AVX2
#: code, which tests/conftest.py asks for)
GOLDEN_OPENCV, GOLDEN_IPP = "5.1.0", "AVX2"


def _golden_code_differs() -> str:
    """Why this process cannot reproduce the golden checksums, or ""."""
    if cv2.__version__ != GOLDEN_OPENCV:
        return f"golden frames were recorded with OpenCV {GOLDEN_OPENCV}, not {cv2.__version__}"
    if not cv2.ipp.useIPP() or GOLDEN_IPP not in cv2.ipp.getIppVersion():
        running = cv2.ipp.getIppVersion() if cv2.ipp.useIPP() else "no IPP"
        return f"golden frames were recorded with IPP's {GOLDEN_IPP} code, not {running}"
    return ""


_GOLDEN_CODE_DIFFERS = _golden_code_differs()
#: marks a test of golden checksums: skipped where they cannot be reproduced
golden_code = pytest.mark.skipif(bool(_GOLDEN_CODE_DIFFERS), reason=_GOLDEN_CODE_DIFFERS or "-")


def decode(name: str, start: int, count: int, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """``count`` RGB frames of the shared clip ``name`` from frame ``start`` (resized to ``size``)."""
    frames = []
    with av.open(str(shared(VIDEO / name))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start:
                rgb = frame.to_ndarray(format="rgb24")
                frames.append(rgb if size is None else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of uint8 or uint16 frames (over ``mask`` when given)."""
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        diff = diff[mask]
    peak = 255.0 if a.dtype == np.uint8 else 65535.0
    return float(10 * np.log10(peak ** 2 / max(np.mean(diff ** 2), 1e-12)))


def bench_module(name: str):
    """bench/``name``.py, loaded as a module (e.g. "seams", the benchmark's seam measure), once,
    under its own name as an import would: dataclasses look their module up by name, and the
    bench scripts import one another by name (one copy of ``seams`` for all of them)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
