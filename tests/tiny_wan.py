"""Tiny, randomly initialised Wan2.1 VACE pipelines, built offline and saved with ``save_pretrained``.

The saved folder is an ordinary diffusers pipeline (``model_index.json`` plus one subfolder per
component), so the engine finds and loads it with the same code as real weights. A
``shotforge.json`` beside it gives the tiny model a tiny native size, rate and window, so that
tests exercise resizing, retiming and windowing in a second or two on a CPU.

Run as a script to make one: ``python -m tests.tiny_wan DIR``. The helpers at the end are what
the diffusers tests share: settings without a settings file, moving frames, a job at a rate.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

#: the environment of a server or CLI run on tiny models: offline, and one OpenMP thread
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "SHOTFORGE_HF_CACHE": "false", "OMP_NUM_THREADS": "1"}

#: what the engine reads from shotforge.json: native picture, rate, longest window, defaults
TINY_NATIVE = {"width": 48, "height": 32, "fps": 8, "max_frames": 13, "overlap": 4, "steps": 2, "guidance": 1.0}

_WORDS = ("a red car drives along a road by the sea under a blue sky with clouds a person walks "
          "a dog runs on the grass in the park at sunset the camera pans slowly over mountains")


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([_WORDS] * 4, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "</s>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="</s>")


#: the tiny transformer's architecture (``transformer=`` overrides any of it)
TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16, text_dim=32,
    freq_dim=256, ffn_dim=32, num_layers=3, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    vace_layers=[0, 2], vace_in_channels=96)
TINY_VAE = dict(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])


def tiny_transformer(seed: int = 0, **overrides):
    import torch
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(seed)
    return WanVACETransformer3DModel(**{**TINY_TRANSFORMER, **overrides}).eval()


def build_tiny_pipeline(seed: int = 0, transformer: dict | None = None, vae: dict | None = None):
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                               relative_attention_num_buckets=8))
    vae = AutoencoderKLWan(**{**TINY_VAE, **(vae or {})})
    transformer = WanVACETransformer3DModel(**{**TINY_TRANSFORMER, **(transformer or {})})
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)  # the engine sets the shift for the picture size
    return WanVACEPipeline(tokenizer=tokenizer, text_encoder=text_encoder.eval(), vae=vae.eval(),
                           transformer=transformer.eval(), scheduler=scheduler)  # eval: no dropout, as when loaded


def save_tiny_pipeline(folder: str | Path, *, native: dict | None = None, seed: int = 0,
                       transformer: dict | None = None, vae: dict | None = None) -> Path:
    """Build and save a tiny Wan VACE pipeline into ``folder`` (created); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build_tiny_pipeline(seed, transformer, vae).save_pretrained(folder)
    (folder / "shotforge.json").write_text(json.dumps(TINY_NATIVE if native is None else native, indent=2))
    return folder


def save_tiny_lora(path: str | Path, *, seed: int = 1, transformer: dict | None = None, rank: int = 4,
                   scale: float = 0.5) -> Path:
    """A LoRA for the tiny transformer, in the diffusers LoRA format (``save_lora_weights``): PEFT adapters
    on every attention projection, their up-projections random (PEFT starts them at zero, which would
    change nothing). Returns the ``.safetensors`` file."""
    import torch
    from diffusers import WanVACEPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    path = Path(path)
    model = tiny_transformer(seed, **(transformer or {}))
    model.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"],
                                 init_lora_weights=True))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    WanVACEPipeline.save_lora_weights(path.parent, transformer_lora_layers=get_peft_model_state_dict(model),
                                      weight_name=path.name)
    return path


# ------------------------------------------------------------------------------ shared test helpers
def settings_for(models: Path | None, **kw) -> SimpleNamespace:
    """Engine settings without a settings file (the fields the diffusers engine reads)."""
    values = dict(models=models, hf_cache=False, diffusers_device="auto", diffusers_offload="auto",
                  diffusers_fast=False)
    values.update(kw)
    return SimpleNamespace(**values)


def engine_for(models: Path | None, operation: str, **kw):
    from server.engines.diffusers import DiffusersEngine

    return DiffusersEngine(operation=operation, settings=settings_for(models, **kw))


def frames_of(n: int, size=(64, 36), dtype=np.uint8, seed=0) -> list[np.ndarray]:
    """A moving gradient: something the flow interpolator can follow."""
    w, h = size
    top = 65535 if dtype == np.uint16 else 255
    xs = np.linspace(0, 1, w)[None, :, None]
    ys = np.linspace(0, 1, h)[:, None, None]
    out = []
    for i in range(n):
        img = np.concatenate([(xs + 0.05 * i) % 1 * np.ones_like(ys), ys * np.ones_like(xs),
                              0.5 * np.ones((h, w, 1))], axis=2)
        out.append((img * top).astype(dtype))
    return out


def job_at(rate, **kw):
    from server.engines.base import EngineJob

    return EngineJob(rate=Fraction(rate), prompt=kw.pop("prompt", "a red car"), seed=kw.pop("seed", 5), **kw)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread for a test module: tiny models gain nothing from more, and on a shared
    2-core machine OpenMP threads spinning against other processes made the tests 30x slower.
    A module that imports this fixture gets it (autouse)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


if __name__ == "__main__":
    print(save_tiny_pipeline(sys.argv[1] if len(sys.argv) > 1 else "tiny-wan-vace"))
