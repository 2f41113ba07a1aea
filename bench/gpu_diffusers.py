"""Wan2.1-VACE-1.3B on a GPU: seconds per 81-frame 480p job and peak GPU memory, default path and
fast path side by side, in one run.

    python bench/gpu_diffusers.py                      # random weights, the published architecture
    python bench/gpu_diffusers.py --model DIR          # real weights: a diffusers pipeline folder
    python bench/gpu_diffusers.py --steps 30 --runs 2 --offload none --json figures.json

The job is what the engine sends for an extension: 81 frames at 832x480, the first 9 known (mask
black) and the rest to make (mask white), ``--steps`` denoising steps with classifier-free
guidance (two transformer passes per step), the VAE encode of the conditioning video and the
decode of the result. Without ``--model`` the components are built from the published configs
below with random weights, in bf16 on the GPU (the VAE in fp32, as the engine loads it): the
arithmetic, hence the time and memory, is the same as with the real weights (the UMT5 tokenizer is
stood in for by a small word-level one; prompts are padded to 512 tokens either way).

"default" is the engine's default placement (whole pipeline on the GPU unless ``--offload``);
"fast" then applies the engine's opt-in fast path (server.engines.diffusers.apply_fast_path: the
fastest attention backend installed, First-Block step cache, regional torch.compile) to the same
pipeline. The first fast run includes compilation; each mode reports its first run and the best
later run (``--runs`` >= 2 for a steady-state figure). It refuses to run without a CUDA GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # never download
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
# scheduler/scheduler_config.json: UniPC with flow sigmas, shift 3.0 for 480p
SCHEDULER = dict(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0)

WIDTH, HEIGHT, FRAMES, KNOWN = 832, 480, 81, 9


def refuse(message: str) -> int:
    print(f"bench/gpu_diffusers.py: {message}", file=sys.stderr)
    return 2


def build_random(device: str):
    """The published architecture with random weights, built directly on the GPU."""
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


def load_real(folder: Path, device: str):
    """Real weights through the engine's own discovery and loader."""
    from server.engines import diffusers as engine
    from server.engines.diffusers_models import inspect_pipeline

    info = inspect_pipeline(folder, folder.name, "bench")
    if info.problems:
        raise SystemExit(refuse(f"{folder} cannot be used: {'; '.join(info.problems)}"))
    plan = engine.DevicePlan(device, "bfloat16", "none", False, "bench")
    return engine._load_pipeline(info, plan, fast=False)


def job_inputs():
    from PIL import Image

    grey = Image.new("RGB", (WIDTH, HEIGHT), (128, 128, 128))
    known = [Image.effect_noise((WIDTH, HEIGHT), 64).convert("RGB") for _ in range(KNOWN)]
    video = known + [grey] * (FRAMES - KNOWN)
    masks = [Image.new("L", (WIDTH, HEIGHT), 0)] * KNOWN + [Image.new("L", (WIDTH, HEIGHT), 255)] * (FRAMES - KNOWN)
    return video, masks


def run_once(pipe, steps: int, guidance: float, seed: int) -> float:
    import torch

    video, masks = job_inputs()
    torch.cuda.synchronize()
    started = time.perf_counter()
    with torch.inference_mode():
        out = pipe(prompt="a red car drives along a road by the sea", negative_prompt="blurred details",
                   video=video, mask=masks, height=HEIGHT, width=WIDTH, num_frames=FRAMES,
                   num_inference_steps=steps, guidance_scale=guidance,
                   generator=torch.Generator("cpu").manual_seed(seed), output_type="np")
    torch.cuda.synchronize()
    assert out.frames[0].shape == (FRAMES, HEIGHT, WIDTH, 3), out.frames[0].shape
    return time.perf_counter() - started


def measure(pipe, label: str, args) -> dict:
    import torch

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    times = [run_once(pipe, args.steps, args.guidance, args.seed) for _ in range(args.runs)]
    peak = torch.cuda.max_memory_allocated() / 1024 ** 3
    reserved = torch.cuda.max_memory_reserved() / 1024 ** 3
    return {"path": label, "first_s": round(times[0], 2), "best_s": round(min(times), 2),
            "per_step_s": round(min(times) / args.steps, 3), "peak_allocated_gib": round(peak, 2),
            "peak_reserved_gib": round(reserved, 2), "runs": args.runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="a Wan2.1-VACE-1.3B diffusers folder (default: random weights)")
    parser.add_argument("--steps", type=int, default=30, help="denoising steps (the engine's default: 30)")
    parser.add_argument("--guidance", type=float, default=5.0, help="guidance scale (default 5.0)")
    parser.add_argument("--runs", type=int, default=2, help="jobs per path (the first fast one compiles)")
    parser.add_argument("--offload", choices=("none", "model", "group"), default="none",
                        help="memory placement for both paths (default: whole pipeline on the GPU)")
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    try:
        import diffusers
        import torch
    except ImportError as exc:
        return refuse(f"needs torch and diffusers (scripts/setup.sh --diffusers): {exc}")
    if not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else f"torch {torch.__version__}"
        return refuse(f"needs a CUDA GPU; none is visible ({build}). Nothing was measured.")

    from server.engines.diffusers import apply_fast_path

    device = args.device
    gpu = torch.cuda.get_device_name(torch.device(device))
    started = time.perf_counter()
    if args.model:
        pipe = load_real(args.model, device if args.offload == "none" else "cpu")
        weights = f"real weights from {args.model}"
    else:
        pipe = build_random(device if args.offload == "none" else "cpu")
        weights = "random weights, published Wan2.1-VACE-1.3B architecture"
    pipe.set_progress_bar_config(disable=True)
    if args.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif args.offload == "group":
        pipe.enable_group_offload(onload_device=torch.device(device), offload_type="block_level",
                                  num_blocks_per_group=1, use_stream=True)
    else:
        pipe.to(device)
    build_s = time.perf_counter() - started
    print(f"{gpu}: {weights}; built/loaded in {build_s:.0f} s; torch {torch.__version__}, "
          f"diffusers {diffusers.__version__}; {FRAMES} frames {WIDTH}x{HEIGHT}, {args.steps} steps, "
          f"guidance {args.guidance}, offload {args.offload}", flush=True)

    rows = [measure(pipe, "default", args)]
    print(f"  default done: {rows[0]}", flush=True)
    note = apply_fast_path(pipe, device)
    rows.append(measure(pipe, f"fast ({note})", args))
    print(f"  fast done: {rows[1]}", flush=True)

    print()
    print("| path | first job (s) | best job (s) | s/step | peak GPU memory (GiB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['path']} | {r['first_s']} | {r['best_s']} | {r['per_step_s']} | {r['peak_allocated_gib']} |")
    if args.json:
        args.json.write_text(json.dumps({"gpu": gpu, "weights": weights, "torch": torch.__version__,
                                         "diffusers": diffusers.__version__, "python": platform.python_version(),
                                         "frames": FRAMES, "size": [WIDTH, HEIGHT], "steps": args.steps,
                                         "guidance": args.guidance, "offload": args.offload, "rows": rows},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
