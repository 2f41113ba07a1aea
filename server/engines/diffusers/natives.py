"""Each family's native picture, rate and window, read from its component configs (no torch).

What the architecture allows comes from the configs: the grid (VAE spatial scale x patch), the
frame-count rule (VAE temporal scale x temporal patch: ``temporal*k+1``) and, for Wan, the largest
window and picture its rotary table covers. The picture, rate, window and defaults are the ones the
model's authors publish for it; a ``shotforge.json`` beside the model may change them (checked
against the limits in :mod:`.models`).
"""

from __future__ import annotations

from server.engines.diffusers.models import Native, wan_native

#: the negative prompt the LTX-Video authors publish with their examples
LTX_NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"


def ltx_native(transformer: dict, vae: dict) -> Native:
    """LTX-Video: 768x512 at 24 fps (its authors' training size and rate), 121-frame windows (5 s), a
    VAE of 32x in space and 8x in time (``patch_size`` x 2 per scaling stage), no rope limit."""
    stages = sum(bool(s) for s in vae.get("spatio_temporal_scaling", (True, True, True, False)))
    spatial = int(vae.get("spatial_compression_ratio") or int(vae.get("patch_size", 4)) * 2 ** stages)
    temporal = int(vae.get("temporal_compression_ratio") or int(vae.get("patch_size_t", 1)) * 2 ** stages)
    multiple = spatial * int(transformer.get("patch_size", 1))
    temporal *= int(transformer.get("patch_size_t", 1))
    w, h = (max(multiple, 768 // multiple * multiple), max(multiple, 512 // multiple * multiple))
    frames = 15 * temporal + 1  # 121 at 8x
    overlap = min(2 * temporal + 1, (frames - 1) // 2)  # two latent groups of known frames a side
    return Native(w, h, 24.0, frames, overlap, 40, 3.0, multiple, temporal, LTX_NEGATIVE)


def ti2v_native(transformer: dict, vae: dict) -> Native:
    """Wan 2.2 TI2V-5B: 1280x704 at 24 fps, 121 frames (its published defaults), a VAE of 16x in space
    (``scale_factor_spatial``) and 4x in time. It is conditioned on one first frame only."""
    native, _ = wan_native(transformer, vae)
    multiple = native.multiple
    scale = min(1.0, native.limit_width / 1280, native.limit_height / 704)
    native.width = max(multiple, int(1280 * scale) // multiple * multiple)
    native.height = max(multiple, int(704 * scale) // multiple * multiple)
    native.fps, native.steps, native.guidance = 24.0, 50, 5.0
    native.max_frames = min(30 * native.temporal + 1, native.limit_frames)
    native.overlap, native.max_context = 1, 1  # the one picture it is conditioned on
    return native

