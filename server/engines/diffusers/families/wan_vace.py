"""Wan2.1 VACE (``WanVACEPipeline``): one call serves all five operations.

The pipeline takes a video of known frames and a mask per frame saying which pixels to make
(white) and which to keep (black): an extension is known frames then blank masked frames, a gap
fill known frames on both sides of a masked middle, an outpaint each frame on the larger canvas
with the new border masked, an inpaint each frame with its region masked (and painted grey), and
generation no known frames at all (text, optionally a reference image).

Wan 2.2 A14B VACE (``transformer`` for high noise, ``transformer_2`` below ``boundary_ratio``) is the
same call with ``guidance_scale_2`` for the low-noise expert (request option ``guidance_2``).

The scheduler's flow shift follows the picture size. The Wan authors publish 3.0 for 480p and 5.0
for 720p (the diffusers VACE example): larger pictures have more tokens carrying the same signal,
so noise must stay high for longer. Between the two the shift is interpolated on the logarithm of
the pixel area (the resolution-shift rule of flow-matching models: the shift grows with the ratio
of pixel counts, so equal area ratios step it equally); outside them it is held at the nearer
published value, never extrapolated. A model's ``shotforge.json`` may set ``flow_shift``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from server.engines.diffusers.families.base import Conditioner, WindowCall, check_window, picture, step_callback

#: (pixel area, flow shift) published for Wan2.1: 832x480 and 1280x720
SHIFT_ANCHORS = ((832 * 480, 3.0), (1280 * 720, 5.0))
#: the prompt length the pipeline pads to (``max_sequence_length``): the text shape a compiled model sees
TEXT_TOKENS = 512


def flow_shift_for(width: int, height: int) -> float:
    (a0, s0), (a1, s1) = SHIFT_ANCHORS
    t = (math.log(width * height) - math.log(a0)) / (math.log(a1) - math.log(a0))
    return s0 + (s1 - s0) * min(max(t, 0.0), 1.0)


def set_flow_shift(pipe: Any, shift: float) -> None:
    """Rebuild the scheduler with ``shift`` when its config differs (UniPC: ``flow_shift``; FlowMatch
    Euler: ``shift``); a scheduler with neither is left as it is."""
    config = pipe.scheduler.config
    key = "flow_shift" if "flow_shift" in config else "shift" if "shift" in config else None
    if key is not None and not math.isclose(float(config[key]), shift):
        pipe.scheduler = type(pipe.scheduler).from_config(config, **{key: shift})


class WanVaceConditioner(Conditioner):
    family = "wan-vace"

    def check_inputs(self, call: WindowCall, native: Any) -> None:
        check_window(self.family, call, native)

    def __call__(self, pipe: Any, call: WindowCall, native: Any) -> np.ndarray:
        import torch

        self.check_inputs(call, native)
        video, mask = self.prepare_video(call)
        set_flow_shift(pipe, native.flow_shift or flow_shift_for(call.width, call.height))
        reference = None if call.reference is None else picture(call.reference)
        # two experts (Wan 2.2 A14B): the low-noise one has a guidance of its own
        two_experts = getattr(pipe.config, "boundary_ratio", None) is not None
        with torch.inference_mode():
            result = pipe(
                prompt=call.prompt, negative_prompt=call.negative_prompt, video=video, mask=mask,
                reference_images=reference, height=call.height, width=call.width, num_frames=len(video),
                num_inference_steps=call.steps, guidance_scale=call.guidance,
                guidance_scale_2=call.guidance_2 if two_experts else None,
                generator=torch.Generator("cpu").manual_seed(call.seed), output_type="np",
                callback_on_step_end=step_callback(call))
        made = np.asarray(result.frames[0], dtype=np.float32)
        return made[call.pad_before:len(made) - call.pad_after]

    def prepare_video(self, call: WindowCall) -> tuple[list, list]:
        """Pictures and masks as the pipeline takes them: RGB and "L" PIL images, white = make."""
        from PIL import Image

        size = (call.width, call.height)
        blank, make, keep = Image.new("RGB", size, (128, 128, 128)), Image.new("L", size, 255), Image.new("L", size, 0)
        video, mask = [blank] * call.pad_before, [make] * call.pad_before
        for image, paint in zip(call.images, call.masks):
            video.append(blank if image is None else picture(image))
            mask.append(make if image is None else keep if paint is None else Image.fromarray(paint))
        return video + [blank] * call.pad_after, mask + [make] * call.pad_after

    def step_cache(self, threshold: float) -> Any:
        from server.engines.diffusers.step_cache import VaceStepCache

        return VaceStepCache(threshold)

    def warmup_inputs(self, pipe: Any, width: int, height: int, frames: int) -> dict:
        import torch

        transformer = pipe.transformer
        param = transformer.patch_embedding.weight  # the compute dtype (some modules are kept in fp32)
        spatial = pipe.vae_scale_factor_spatial
        latent = ((frames - 1) // pipe.vae_scale_factor_temporal + 1, height // spatial, width // spatial)
        config = transformer.config

        def noise(*shape):
            return torch.randn(*shape, device=param.device, dtype=param.dtype)

        return {"hidden_states": noise(1, config.in_channels, *latent),
                "timestep": torch.tensor([999.0], device=param.device),  # as the scheduler's: float
                "encoder_hidden_states": noise(1, TEXT_TOKENS, config.text_dim),
                "control_hidden_states": noise(1, config.vace_in_channels, *latent), "return_dict": False}
