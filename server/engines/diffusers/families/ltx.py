"""LTX-Video (``LTXConditionPipeline``): known frames as conditions at their positions.

The pipeline takes a list of ``LTXVideoCondition(video|image, frame_index)``: a video condition at
frame 0 replaces the first latent frames; one placed later sends its first two latent frames in as
extra tokens at their time positions and replaces the latent frames after them. So a window's
known frames become:

- each run of known frames, the longest ``8k+1`` stretch of it that lines up with the latent grid
  (at frame 0, or at a multiple of 8 later, where a latent frame starts) as one video condition;
- the few known frames left between that stretch and the frames to make (at most 7) as single
  pictures at their own positions (keyframes), so the made frames join the known ones exactly
  where they meet.

That serves a head or tail extension (the known frames on one side), a gap fill (on both: the
model sees the far shot too) and generation (no conditions). It cannot outpaint: a condition is
a whole frame, never part of a picture. Its 32-pixel grid and ``8k+1`` frame rule come from the
VAE's config (:mod:`server.engines.diffusers.natives`); its native rate (24 fps) is passed as the
pipeline's ``frame_rate``, which scales the rotary positions in time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from server.engines.diffusers.families.base import Conditioner, WindowCall, check_window, picture, step_callback
from server.engines.diffusers.families.wan_vace import set_flow_shift

#: the prompt length LTX's pipeline pads to (``max_sequence_length``)
TEXT_TOKENS = 256
#: latent frames of a later video condition that go in as extra tokens (the pipeline's
#: ``num_prefix_latent_frames``): such a condition must be at least this many latent frames long
PREFIX_LATENTS = 2


def conditions_for(known: list[bool], temporal: int) -> tuple[list[tuple[int, int]], list[int]]:
    """For the window's known frames (by position): the video conditions as (start, frames) and the
    single-picture conditions (positions). Frames to make are ``False``."""
    videos, singles = [], []
    n = len(known)
    i = 0
    while i < n:
        if not known[i]:
            i += 1
            continue
        a = i
        while i < n and known[i]:
            i += 1
        b = i  # known run [a, b)
        start = a if a == 0 else -(-a // temporal) * temporal  # frame 0, or where a latent frame starts
        length = (b - start - 1) // temporal * temporal + 1 if b > start else 0
        least = 1 if start == 0 else (PREFIX_LATENTS - 1) * temporal + 1
        if length >= least:
            videos.append((start, length))
            covered = range(start, start + length)
        else:
            covered = range(0)
        # pictures next to frames to make that the video condition does not cover: keyframes
        made_before, made_after = a > 0, b < n
        for j in range(a, b):
            near = (made_before and j - a < temporal) or (made_after and b - 1 - j < temporal)
            if near and j not in covered:
                singles.append(j)
    return videos, singles


class LtxConditioner(Conditioner):
    family = "ltx"

    def check_inputs(self, call: WindowCall, native: Any) -> None:
        """A known frame's mask can only be the canvas's grid padding here (outpaint is not served): it is
        conditioned on whole, and the engine keeps the picture inside the padding as it was."""
        check_window(self.family, call, native)

    def __call__(self, pipe: Any, call: WindowCall, native: Any) -> np.ndarray:
        import torch
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

        self.check_inputs(call, native)
        window = [None] * call.pad_before + list(call.images) + [None] * call.pad_after
        videos, singles = conditions_for([image is not None for image in window], native.temporal)
        conditions = [LTXVideoCondition(video=[picture(window[j]) for j in range(s, s + n)], frame_index=s)
                      for s, n in videos]
        conditions += [LTXVideoCondition(image=picture(window[j]), frame_index=j) for j in singles]
        if native.flow_shift:  # else the pipeline's own shift for the sequence length
            set_flow_shift(pipe, native.flow_shift)
        with torch.inference_mode():
            result = pipe(
                conditions=conditions or None, prompt=call.prompt, negative_prompt=call.negative_prompt,
                height=call.height, width=call.width, num_frames=call.frames, frame_rate=int(round(native.fps)),
                num_inference_steps=call.steps, guidance_scale=call.guidance,
                generator=torch.Generator("cpu").manual_seed(call.seed), output_type="np",
                callback_on_step_end=step_callback(call), max_sequence_length=TEXT_TOKENS)
        made = np.asarray(result.frames[0], dtype=np.float32)
        return made[call.pad_before:len(made) - call.pad_after]

    def step_cache(self, threshold: float) -> Any:
        from server.engines.diffusers.step_cache import BlockStepCache

        return BlockStepCache(threshold)

    def warmup_inputs(self, pipe: Any, width: int, height: int, frames: int) -> dict:
        import torch

        transformer = pipe.transformer
        param = transformer.proj_in.weight
        config = transformer.config
        latent = ((frames - 1) // pipe.vae_temporal_compression_ratio + 1,
                  height // pipe.vae_spatial_compression_ratio, width // pipe.vae_spatial_compression_ratio)
        tokens = latent[0] * latent[1] * latent[2]
        grid = torch.stack(torch.meshgrid(*(torch.arange(n, dtype=torch.float32) for n in latent), indexing="ij"))
        return {"hidden_states": torch.randn(1, tokens, config.in_channels, device=param.device, dtype=param.dtype),
                "encoder_hidden_states": torch.randn(1, TEXT_TOKENS, config.caption_channels, device=param.device,
                                                     dtype=param.dtype),
                "timestep": torch.full((1, tokens), 999.0, device=param.device),
                "encoder_attention_mask": torch.ones(1, TEXT_TOKENS, device=param.device),
                "video_coords": grid.reshape(1, 3, tokens).to(param.device), "return_dict": False}
