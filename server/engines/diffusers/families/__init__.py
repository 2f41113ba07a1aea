"""Model families: each drives one diffusers pipeline class behind one small conditioner interface.

A conditioner turns one window (known pictures, what to paint, the words, the steps) into the
pipeline call for its family and returns the frames made, and knows its family's levers: the
scheduler shift for a picture size, the step cache that is safe for its transformer, and the
inputs a compiled transformer is warmed up with at load. One module per family.
"""

from __future__ import annotations

from server.engines.diffusers.families.base import Conditioner, WindowCall


def conditioner_for(family: str) -> Conditioner:
    if family == "wan-vace":
        from server.engines.diffusers.families.wan_vace import WanVaceConditioner

        return WanVaceConditioner()
    if family == "ltx":
        from server.engines.diffusers.families.ltx import LtxConditioner

        return LtxConditioner()
    if family == "wan22-ti2v":
        from server.engines.diffusers.families.wan22 import Ti2vConditioner

        return Ti2vConditioner()
    raise ValueError(f"no conditioner for the model family {family!r}")


__all__ = ["Conditioner", "WindowCall", "conditioner_for"]
