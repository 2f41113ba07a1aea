"""Wan2.1-VACE-1.3B on one GPU: the engine's default path against its fast path, speed and quality.

    python bench/gpu_diffusers.py --json bench/gpu.json          # random weights, published architecture
    python bench/gpu_diffusers.py --model DIR --json gpu.json     # real weights: a diffusers pipeline folder
    python bench/gpu_diffusers.py --tiny --json tiny.json         # the script's own logic on a CPU, seconds

The job is what the engine sends for a tail extension: 81 frames at 832x480, the first 9 known
(mask black) and the rest to make (mask white), ``--steps`` denoising steps with classifier-free
guidance, the VAE encode of the conditioning video and the decode of the result, run through the
engine's own Wan VACE conditioner (scheduler shift for the size included). Without ``--model`` the
components are built on the GPU from the published configs below with random weights, bf16 (the
VAE fp32, as the engine loads it): the arithmetic, hence time and memory, is that of the real
weights (the UMT5 tokenizer is stood in for by a small word-level one; prompts are padded to 512
tokens either way). With random weights the step cache's hit rate, and so its speed-up, is not the
real one: the PSNR column says how far each stage's frames are from the default stage's.

Stages, in order, on one pipeline: ``default`` (diffusers as it comes); ``fast+compile`` (the
engine's fast path applied: exact attention backend, VACE-safe step cache, regional compile warmed
up at the full window, the compile time reported apart); ``fast`` (the same again: steady state);
``fast-no-cache`` (the cache taken off); ``default-again`` (every lever off: should match
``default``). Each reports job time, time per step, peak GPU memory, cache hits and misses, and
PSNR against ``default``. The JSON (``--json``) is rewritten after every stage, so a time-out keeps
what was measured; a stage that would not fit in ``--budget`` seconds is skipped and said so.

Nothing is downloaded or installed unless ``--wheels DIR`` names a folder of wheels brought along
(``pip download diffusers==0.42.1 transformers ftfy accelerate -d DIR`` on a connected machine):
then the missing packages are installed from it with ``pip --no-index``. It needs torch with CUDA,
diffusers >= 0.42, transformers, ftfy (Wan's prompt cleaning) and tokenizers, and refuses clearly
without a CUDA GPU (``--tiny`` excepted).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # never download
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Wan-AI/Wan2.1-VACE-1.3B-diffusers, transformer/config.json
TRANSFORMER_1_3B = dict(
    added_kv_proj_dim=None, attention_head_dim=128, cross_attn_norm=True, eps=1e-06, ffn_dim=8960, freq_dim=256,
    image_dim=None, in_channels=16, num_attention_heads=12, num_layers=30, out_channels=16, patch_size=(1, 2, 2),
    pos_embed_seq_len=None, qk_norm="rms_norm_across_heads", rope_max_seq_len=1024, text_dim=4096,
    vace_in_channels=96, vace_layers=[0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28])
# text_encoder/config.json: UMT5-XXL encoder (google/umt5-xxl)
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.1,
                layer_norm_epsilon=1e-06, feed_forward_proj="gated-gelu", tie_word_embeddings=False)
# vae/config.json: the Wan2.1 VAE (AutoencoderKLWan's defaults)
VAE = dict(base_dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
           temperal_downsample=[False, True, True], dropout=0.0)
# scheduler/scheduler_config.json: UniPC with flow sigmas (the engine sets the shift for the size)
SCHEDULER = dict(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0)

#: import name -> pip name: what the bench cannot run without
NEEDS = {"torch": "torch", "diffusers": "diffusers>=0.42", "transformers": "transformers", "ftfy": "ftfy",
         "tokenizers": "tokenizers", "PIL": "pillow", "numpy": "numpy"}
STAGES = ("default", "fast+compile", "fast", "fast-no-cache", "default-again")
PROMPT, NEGATIVE = "a red car drives along a road by the sea", "blurred details"


def refuse(message: str) -> int:
    print(f"bench/gpu_diffusers.py: {message}", file=sys.stderr)
    return 2


def missing(real_weights: bool) -> list[str]:
    needs = {**NEEDS, "accelerate": "accelerate"} if real_weights else NEEDS  # from_pretrained needs accelerate
    return [pip for module, pip in needs.items() if importlib.util.find_spec(module) is None]


def install_from(wheels: Path, packages: list[str]) -> bool:
    """Install ``packages`` from a folder of wheels brought along; nothing from the network."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels),
                           *packages], capture_output=True, text=True)
    if done.returncode:
        print(done.stdout[-2000:], done.stderr[-2000:], sep="\n", file=sys.stderr)
    return done.returncode == 0


# ------------------------------------------------------------------------------- the pipeline
def build_random(device: str):
    """The published architecture with random weights, built directly on the device."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from tests.tiny_wan import tiny_tokenizer

    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    try:
        with torch.device(device):
            torch.set_default_dtype(torch.bfloat16)
            transformer = WanVACETransformer3DModel(**TRANSFORMER_1_3B)
            text_encoder = UMT5EncoderModel(UMT5Config(**UMT5_XXL))
            torch.set_default_dtype(torch.float32)
            vae = AutoencoderKLWan(**VAE)
    finally:
        torch.set_default_dtype(previous)
    return WanVACEPipeline(tokenizer=tiny_tokenizer(), text_encoder=text_encoder.eval(), vae=vae.eval(),
                           transformer=transformer.eval(), scheduler=UniPCMultistepScheduler(**SCHEDULER))


def setup(args):
    """(pipeline, native, description) for the run asked for."""
    from server.engines.diffusers.models import inspect_pipeline, wan_native

    if args.tiny:
        from tests.tiny_wan import TINY_NATIVE, TINY_TRANSFORMER, TINY_VAE, build_tiny_pipeline

        native, _ = wan_native(TINY_TRANSFORMER, TINY_VAE)
        for key, value in TINY_NATIVE.items():
            setattr(native, key, value)
        return build_tiny_pipeline().to("cpu"), native, "tiny random Wan VACE (CPU)"
    if args.model:
        from server.engines.diffusers.devices import DevicePlan
        from server.engines.diffusers.warm import load_pipeline

        info = inspect_pipeline(args.model, args.model.name, "bench")
        if info.problems:
            raise SystemExit(refuse(f"{args.model} cannot be used: {'; '.join(info.problems)}"))
        loaded = load_pipeline(info, DevicePlan(args.device, "bfloat16", "none", False, "bench"), fast=False)
        return loaded.pipe, info.native, f"real weights from {args.model}"
    native, _ = wan_native(TRANSFORMER_1_3B, VAE)
    return build_random(args.device), native, "random weights, published Wan2.1-VACE-1.3B architecture"


def job_call(native, frames: int, known: int, steps: int, guidance: float, seed: int, on_step):
    """The window the engine sends for a tail extension: ``known`` pictures, then frames to make."""
    import numpy as np

    from server.engines.diffusers.families import WindowCall

    rng = np.random.default_rng(seed)
    pictures = [rng.random((native.height, native.width, 3)).astype(np.float16) for _ in range(known)]
    return WindowCall(images=pictures + [None] * (frames - known), masks=[None] * frames, pad_before=0, pad_after=0,
                      width=native.width, height=native.height, prompt=PROMPT, negative_prompt=NEGATIVE, steps=steps,
                      guidance=guidance, seed=seed, on_step=on_step)


# ---------------------------------------------------------------------------------- measuring
class Stage:
    """One stage's figures."""

    def __init__(self, name: str):
        self.name = name
        self.row: dict = {"stage": name}
        self.frames = None


def psnr(a, b) -> float | None:
    """PSNR in dB of ``a`` against ``b`` (floats in [0, 1]); None when identical."""
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return None if mse == 0 else round(10 * math.log10(1.0 / mse), 2)


def run_stage(name: str, pipe, native, conditioner, levers, args, device: str, reference) -> Stage:
    import torch

    cuda = device.startswith("cuda")
    stage = Stage(name)
    stamps: list[float] = []

    def on_step(step: int) -> None:
        if cuda:
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    call = job_call(native, args.frames, args.known, args.steps, args.guidance, args.seed, on_step)
    cache = levers.cache if levers is not None else None
    hits, misses = (cache.hits, cache.misses) if cache is not None else (0, 0)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    started = time.perf_counter()
    frames = conditioner(pipe, call, native)
    if cuda:
        torch.cuda.synchronize()
    job_s = time.perf_counter() - started
    if cache is not None:
        cache.reset()  # as the engine does after each call
    made = frames[args.known:]
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    stage.frames = made
    stage.row.update(
        job_s=round(job_s, 3), per_step_s=round(sorted(steps)[len(steps) // 2], 4) if steps else None,
        peak_gpu_gib=round(torch.cuda.max_memory_allocated() / 1024 ** 3, 2) if cuda else None,
        cache_hits=cache.hits - hits if cache is not None else None,
        cache_misses=cache.misses - misses if cache is not None else None,
        psnr_vs_default_db=None if reference is None else psnr(made, reference),
        identical_to_default=reference is not None and psnr(made, reference) is None,
        levers=levers.describe() if levers is not None else "off")
    return stage


def write(path: Path | None, report: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(report, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a Wan2.1-VACE-1.3B diffusers folder (default: random weights)")
    parser.add_argument("--tiny", action="store_true", help="a tiny random model on the CPU: the script's logic only")
    parser.add_argument("--steps", type=int, help="denoising steps (default 20; 4 with --tiny)")
    parser.add_argument("--frames", type=int, help="frames in the job (default 81; 13 with --tiny)")
    parser.add_argument("--known", type=int, default=None, help="known frames at the start (default 9; 5 with --tiny)")
    parser.add_argument("--guidance", type=float, default=5.0, help="guidance scale (default 5.0)")
    parser.add_argument("--budget", type=float, default=480, help="seconds for everything (default 480)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wheels", type=Path, help="a folder of wheels to install missing packages from (no network)")
    parser.add_argument("--json", type=Path, help="write the figures here, after every stage")
    args = parser.parse_args(argv)
    args.steps = args.steps or (4 if args.tiny else 20)
    args.frames = args.frames or (13 if args.tiny else 81)
    args.known = args.known if args.known is not None else (5 if args.tiny else 9)
    began = time.perf_counter()

    lacking = missing(args.model is not None)
    if lacking and args.wheels:
        if not install_from(args.wheels, lacking):
            return refuse(f"could not install {', '.join(lacking)} from {args.wheels} (pip's words above)")
        lacking = missing(args.model is not None)
    if lacking:
        return refuse(f"missing {', '.join(lacking)}; nothing is downloaded here: bring wheels "
                      "(pip download ... -d DIR on a connected machine) and pass --wheels DIR")
    import diffusers
    import torch

    if args.tiny:
        args.device = "cpu"
    elif not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else f"torch {torch.__version__}"
        return refuse(f"needs a CUDA GPU; none is visible ({build}). Nothing was measured "
                      "(--tiny runs the script's own logic on a tiny model on the CPU).")
    if (args.frames - 1) % 4 or not 0 < args.known < args.frames:
        return refuse(f"--frames must be 4k+1 and --known between 1 and {args.frames - 1}")

    from server.engines.diffusers import fast as fast_path
    from server.engines.diffusers.families import conditioner_for

    device = args.device
    pipe, native, weights = setup(args)
    pipe.set_progress_bar_config(disable=True)
    conditioner = conditioner_for("wan-vace")
    report = {"gpu": torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu",
              "weights": weights, "torch": torch.__version__, "diffusers": diffusers.__version__,
              "python": platform.python_version(), "frames": args.frames, "known": args.known,
              "size": [native.width, native.height], "steps": args.steps, "guidance": args.guidance,
              "build_s": round(time.perf_counter() - began, 1), "budget_s": args.budget, "state": "running",
              "stages": []}
    write(args.json, report)
    print(f"{report['gpu']}: {weights}; built in {report['build_s']} s; torch {torch.__version__}, diffusers "
          f"{diffusers.__version__}; {args.frames} frames {native.width}x{native.height}, {args.steps} steps",
          flush=True)

    levers, reference, last_job = None, None, 0.0
    for name in STAGES:
        left = args.budget - (time.perf_counter() - began)
        if last_job and last_job * (3 if name == "fast+compile" else 1.2) > left:
            report["stages"].append({"stage": name, "skipped": f"{left:.0f} s of the budget left"})
            write(args.json, report)
            continue
        started, extra = time.perf_counter(), {}
        if name == "fast+compile":
            levers = fast_path.enable(pipe, device, "none", conditioner, native,
                                      lambda stage: print(f"  {stage}", flush=True))
            extra["compile_s"] = round(time.perf_counter() - started, 2)
        elif name == "fast-no-cache" and levers is not None and levers.cache is not None:
            levers.cache.remove()
            levers.cache = None
            if levers.compiled:  # the blocks' forwards changed: recompile now, not inside the timed job
                with torch.inference_mode():
                    pipe.transformer(**conditioner.warmup_inputs(pipe, native.width, native.height, args.frames))
                extra["recompile_s"] = round(time.perf_counter() - started, 2)
        elif name == "default-again" and levers is not None:
            levers.disable(pipe)
            levers = None
        stage = run_stage(name, pipe, native, conditioner, levers, args, device, reference)
        stage.row.update(extra)
        if reference is None:
            reference = stage.frames
        last_job = stage.row["job_s"]
        report["stages"].append(stage.row)
        write(args.json, report)
        print(f"  {name}: {stage.row}", flush=True)
    report["state"] = "done"
    report["total_s"] = round(time.perf_counter() - began, 1)
    write(args.json, report)
    print()
    print("| stage | job (s) | s/step | peak GPU (GiB) | cache hits/misses | PSNR vs default (dB) |")
    print("|---|---|---|---|---|---|")
    for r in report["stages"]:
        if "skipped" in r:
            print(f"| {r['stage']} | skipped: {r['skipped']} | | | | |")
            continue
        hits = "" if r["cache_hits"] is None else f"{r['cache_hits']}/{r['cache_misses']}"
        quality = "identical" if r["identical_to_default"] else r["psnr_vs_default_db"] or ""
        print(f"| {r['stage']} | {r['job_s']} | {r['per_step_s']} | {r['peak_gpu_gib']} | {hits} | {quality} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
