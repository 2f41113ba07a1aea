"""Tiny, randomly initialised LTX-Video and Wan 2.2 pipelines, built offline and saved with ``save_pretrained``.

Like :mod:`tests.tiny_wan`: ordinary diffusers folders the engine finds and loads with the same
code as real weights, with a ``shotforge.json`` giving each a tiny native size, rate and window.

- LTX-Video (``LTXConditionPipeline``): its VAE compresses 32x in space (a 4-pixel patch and three
  2x stages) and 8x in time, so the tiny model keeps LTX's real 32-pixel grid and 8k+1 frames.
- Wan 2.2 TI2V-5B (``WanPipeline`` with ``expand_timesteps``): a 48-channel latent VAE compressing
  16x in space (Wan 2.2's ``scale_factor_spatial``), 4x in time; a 32-pixel grid with the 2x patch.
- Wan 2.2 A14B two-expert VACE (``WanVACEPipeline`` with ``transformer_2`` and ``boundary_ratio``).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from tests.tiny_wan import TINY_NATIVE, TINY_TRANSFORMER, TINY_VAE, tiny_tokenizer

#: LTX's own grid and frame rule at a tiny size: 64x32 (two 32-pixel cells by one), 9-frame windows
TINY_LTX_NATIVE = {"width": 64, "height": 32, "fps": 8, "max_frames": 17, "overlap": 9, "steps": 2, "guidance": 1.0}
TINY_TI2V_NATIVE = {"width": 64, "height": 32, "fps": 8, "max_frames": 13, "overlap": 4, "steps": 2, "guidance": 1.0}
TINY_LTX_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
    decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
    spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True, False),
    decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4, upsample_factor=(1,) * 4,
    timestep_conditioning=False, patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False)
TINY_LTX_TRANSFORMER = dict(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
                            attention_head_dim=8, cross_attention_dim=16, num_layers=1, caption_channels=32)


def _t5():
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(vocab_size=64, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                   relative_attention_num_buckets=8)).eval()


def _umt5():
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                       relative_attention_num_buckets=8)).eval()


def _save(pipe, folder: str | Path, native: dict) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    (folder / "shotforge.json").write_text(json.dumps(native, indent=2))
    return folder


def save_tiny_ltx(folder: str | Path, *, native: dict | None = None, seed: int = 0) -> Path:
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXConditionPipeline
    from diffusers import LTXVideoTransformer3DModel

    torch.manual_seed(seed)
    pipe = LTXConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=AutoencoderKLLTXVideo(**TINY_LTX_VAE).eval(),
        text_encoder=_t5(), tokenizer=tiny_tokenizer(),
        transformer=LTXVideoTransformer3DModel(**TINY_LTX_TRANSFORMER).eval())
    return _save(pipe, folder, TINY_LTX_NATIVE if native is None else native)


def save_tiny_ti2v(folder: str | Path, *, native: dict | None = None, seed: int = 0) -> Path:
    """Wan 2.2 TI2V-5B's layout: a 48-channel latent at 16x in space, one transformer, expand_timesteps."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=48, in_channels=12, out_channels=12, dim_mult=[1, 1, 1, 1],
                           num_res_blocks=1, temperal_downsample=[False, True, True], is_residual=True,
                           patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4,
                           latents_mean=[0.0] * 48, latents_std=[1.0] * 48).eval()
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=48, out_channels=48,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32).eval()
    pipe = WanPipeline(tokenizer=tiny_tokenizer(), text_encoder=_umt5(), vae=vae, transformer=transformer,
                       scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                         flow_shift=5.0), expand_timesteps=True)
    return _save(pipe, folder, TINY_TI2V_NATIVE if native is None else native)


def save_tiny_two_expert_vace(folder: str | Path, *, native: dict | None = None, seed: int = 0,
                              boundary_ratio: float = 0.5) -> Path:
    """Wan 2.2 A14B VACE's layout: a high-noise ``transformer`` and a low-noise ``transformer_2``."""
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanVACEPipeline, WanVACETransformer3DModel

    torch.manual_seed(seed)
    pipe = WanVACEPipeline(
        tokenizer=tiny_tokenizer(), text_encoder=_umt5(), vae=AutoencoderKLWan(**TINY_VAE).eval(),
        transformer=WanVACETransformer3DModel(**TINY_TRANSFORMER).eval(),
        transformer_2=WanVACETransformer3DModel(**TINY_TRANSFORMER).eval(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), boundary_ratio=boundary_ratio)
    return _save(pipe, folder, TINY_NATIVE if native is None else native)


# ------------------------------------------------------------------------------ shared test helpers
def render_in_process(models: Path, out: Path, clip: Path, monkeypatch, **shotforge) -> dict:
    """One request on the carphone two-clip timeline (A: record 0-54, gap 55-64, B: 65-119, 29.97 fps)
    rendered by ``server.render`` with ``models`` as the models folder; returns its job.json."""
    from otio_tools import request_from_timeline
    from server import settings as st
    from server.render import plan_job, run_job
    from tests.serverutil import CARPHONE, two_clip_timeline

    (out.parent / "none.toml").write_text("")
    monkeypatch.setenv("SHOTFORGE_CONFIG", str(out.parent / "none.toml"))
    timeline = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    timeline.metadata["shotforge"] = {"version": 1, "engine": "diffusers", "seed": 7, **shotforge}
    st.activate(st.load_settings(models=str(models), hf_cache=False))
    try:
        run_job(plan_job(timeline, request_from_timeline(timeline)), out)
    finally:
        st.activate(None)
    return json.loads((out / "job.json").read_text())


def media_facts(path: str) -> tuple[Fraction, tuple[int, int], int]:
    """(rate, (width, height), frames) of a rendered file."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        return stream.average_rate, size, sum(1 for _ in container.decode(video=0))
