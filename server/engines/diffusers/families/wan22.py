"""Wan 2.2 TI2V-5B (``WanPipeline`` saved with ``expand_timesteps``): text- and image-to-video.

One checkpoint does both: from text alone (``WanPipeline``) and from a first frame
(``WanImageToVideoPipeline`` built on the same loaded components with ``from_pipe``; with
``expand_timesteps`` the first latent frame *is* the picture's, kept out of the noise). So it
serves:

- generate: text to video;
- extend: image to video from the frame next to what is made: a tail extension from the clip's last
  frame; a head extension from its first frame with time reversed (the model's motion, played
  backwards, ends on the clip's first frame);
- not gap fill (one picture only: it cannot see the shot after the gap), not outpaint (no mask).

Its scheduler's own ``flow_shift`` is used (the published 5.0) unless ``shotforge.json`` or a LoRA
sets one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from server.engines.diffusers.families.base import Conditioner, WindowCall, check_window, picture, step_callback
from server.engines.diffusers.families.wan_vace import TEXT_TOKENS, set_flow_shift
from server.engines.diffusers.windows import round_up_frames


class Ti2vConditioner(Conditioner):
    family = "wan22-ti2v"

    def __init__(self) -> None:
        self._image_pipes: dict[int, Any] = {}  # id(loaded pipeline) -> its image-to-video twin

    def check_inputs(self, call: WindowCall, native: Any) -> None:
        check_window(self.family, call, native)
        known = [i for i, image in enumerate(call.images) if image is not None]
        made = [i for i, image in enumerate(call.images) if image is None]
        if known and made and min(known) < min(made) and max(known) > max(made):
            raise ValueError(f"{self.family}: known frames on both sides of the frames to make; this model is "
                             "conditioned on one first frame only")
        if known and not made and not (call.pad_before or call.pad_after):
            raise ValueError(f"{self.family}: nothing to make in this window")

    def __call__(self, pipe: Any, call: WindowCall, native: Any) -> np.ndarray:
        import torch

        self.check_inputs(call, native)
        known = [i for i, image in enumerate(call.images) if image is not None]
        args = dict(prompt=call.prompt, negative_prompt=call.negative_prompt, height=call.height, width=call.width,
                    num_inference_steps=call.steps, guidance_scale=call.guidance, output_type="np",
                    generator=torch.Generator("cpu").manual_seed(call.seed), callback_on_step_end=step_callback(call))
        if not known:  # text to video
            if native.flow_shift:
                set_flow_shift(pipe, native.flow_shift)
            with torch.inference_mode():
                made = np.asarray(pipe(num_frames=call.frames, **args).frames[0], dtype=np.float32)
            return made[call.pad_before:len(made) - call.pad_after]
        # the picture next to what is made; made frames come after it (reversed for a head extension)
        first_made = next((i for i, image in enumerate(call.images) if image is None), None)
        backwards = known[0] > first_made if first_made is not None else call.pad_before > 0
        images = call.images[::-1] if backwards else call.images
        lead = call.pad_after if backwards else call.pad_before
        anchor = max(i for i, image in enumerate(images) if image is not None)
        at = lead + anchor  # its place in the window
        count = round_up_frames(call.frames - at, native.temporal)
        image_pipe = self.image_pipeline(pipe)
        if native.flow_shift:
            set_flow_shift(image_pipe, native.flow_shift)
        with torch.inference_mode():
            made = np.asarray(image_pipe(image=picture(images[anchor]), num_frames=count, **args).frames[0],
                              dtype=np.float32)
        window = np.zeros((call.frames, call.height, call.width, 3), np.float32)
        window[at:] = made[:call.frames - at]
        for i, image in enumerate(images[:anchor]):  # known pictures before the anchor stay as they are
            if image is not None:
                window[lead + i] = image
        if backwards:
            window = window[::-1]
        return window[call.pad_before:call.frames - call.pad_after]

    def image_pipeline(self, pipe: Any) -> Any:
        """The image-to-video pipeline on the same components (no second copy of any weights)."""
        from diffusers import WanImageToVideoPipeline

        if isinstance(pipe, WanImageToVideoPipeline):
            return pipe
        twin = self._image_pipes.get(id(pipe))
        if twin is None:
            twin = self._image_pipes[id(pipe)] = WanImageToVideoPipeline.from_pipe(pipe)
            twin.set_progress_bar_config(disable=True)
        return twin

    def step_cache(self, threshold: float) -> Any:
        from server.engines.diffusers.step_cache import BlockStepCache

        return BlockStepCache(threshold)

    def warmup_inputs(self, pipe: Any, width: int, height: int, frames: int) -> dict:
        import torch

        transformer = pipe.transformer
        param = transformer.patch_embedding.weight
        spatial = pipe.vae_scale_factor_spatial
        latent = ((frames - 1) // pipe.vae_scale_factor_temporal + 1, height // spatial, width // spatial)
        config = transformer.config
        _, p_h, p_w = config.patch_size
        tokens = latent[0] * (latent[1] // p_h) * (latent[2] // p_w)
        # expand_timesteps: one timestep per token, as the pipeline gives it
        return {"hidden_states": torch.randn(1, config.in_channels, *latent, device=param.device, dtype=param.dtype),
                "timestep": torch.full((1, tokens), 999.0, device=param.device),
                "encoder_hidden_states": torch.randn(1, TEXT_TOKENS, config.text_dim, device=param.device,
                                                     dtype=param.dtype), "return_dict": False}
