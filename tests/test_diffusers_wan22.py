"""Wan 2.2 on tiny, randomly initialised pipelines (CPU, no network): TI2V-5B's layout (one
transformer, a 48-channel latent at 16x in space, ``expand_timesteps``) and A14B's two-expert VACE
(``transformer`` for high noise, ``transformer_2`` below ``boundary_ratio``). Saved with
``save_pretrained`` and loaded by the same code as real weights (tests/tiny_ltx.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the diffusers engine needs torch (scripts/setup.sh --diffusers)")
pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")

from otio_tools import RequestError  # noqa: E402
from server.engines.base import EngineUnavailable  # noqa: E402
from server.engines.diffusers import DiffusersEngine, fast, select_model, warm  # noqa: E402
from server.engines.diffusers.canvas import Canvas  # noqa: E402
from server.engines.diffusers.models import inspect_pipeline  # noqa: E402
from tests.serverutil import CARPHONE, REPO, copy_media  # noqa: E402
from tests.tiny_ltx import (media_facts, render_in_process, save_tiny_ltx, save_tiny_ti2v,  # noqa: E402
                             save_tiny_two_expert_vace)
from tests.tiny_wan import (  # noqa: E402, F401 (one_torch_thread: an autouse fixture)
    OFFLINE_ENV, engine_for, frames_of, job_at, one_torch_thread, save_tiny_pipeline, settings_for)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    save_tiny_ti2v(root / "tiny-ti2v")
    save_tiny_two_expert_vace(root / "tiny-vace2")
    return root


def spy_on(monkeypatch, cls) -> list[dict]:
    seen, original = [], cls.__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    return seen


# ------------------------------------------------------------------------------ TI2V-5B
def test_ti2v_is_recognised_with_its_grid_and_rate(models, tmp_path):
    info = inspect_pipeline(models / "tiny-ti2v", "tiny-ti2v", "models folder")
    assert (info.family, info.loader, info.operations) == ("wan22-ti2v", "WanPipeline", ("extend", "generate"))
    assert set(info.not_served()) == {"fill_gap", "outpaint", "inpaint"} and not info.problems
    assert (info.native.multiple, info.native.temporal, info.native.max_context) == (32, 4, 1)
    plain = tmp_path / "plain"
    shutil.copytree(models / "tiny-ti2v", plain)
    (plain / "shotforge.json").unlink()
    n = inspect_pipeline(plain, "plain", "models folder").native
    # 1280x704 at 24 fps, shrunk to what a 32-position rope covers (1024 px a side), 121 frames
    assert (n.width, n.height, n.fps, n.max_frames, n.steps, n.guidance) == (1024, 544, 24.0, 121, 50, 5.0)
    index = json.loads((plain / "model_index.json").read_text())
    (plain / "model_index.json").write_text(json.dumps({**index, "expand_timesteps": False}))
    t2v = inspect_pipeline(plain, "plain", "models folder")  # a Wan 2.1 text-to-video folder: not driven
    assert t2v.family is None and "recognised but not driven" in t2v.problems[0]


def test_ti2v_extends_from_the_frame_next_to_what_is_made(models, monkeypatch):
    from diffusers import WanImageToVideoPipeline, WanPipeline

    image_calls, text_calls = spy_on(monkeypatch, WanImageToVideoPipeline), spy_on(monkeypatch, WanPipeline)
    context = frames_of(8)
    canvas = Canvas.fit((64, 36), inspect_pipeline(models / "tiny-ti2v", "t", "models folder").native)
    for side, anchor in (("tail", context[-1]), ("head", context[0])):
        image_calls.clear()
        out = list(engine_for(models, "extend").extend(context, 50, side, job_at(Fraction(25))))  # two windows
        assert len(out) == 50 and all(f.shape == (36, 64, 3) for f in out)
        assert len(image_calls) >= 2 and all((c["num_frames"] - 1) % 4 == 0 for c in image_calls)
        first = np.asarray(image_calls[0]["image"]).astype(np.float32) / 255
        want = canvas.to_model(anchor).astype(np.float32)
        assert np.abs(first - want).max() < 1.5 / 255, side  # the clip's own frame next to the extension
    assert not text_calls
    out = list(engine_for(models, "generate").generate(10, (100, 56), job_at(24)))
    assert len(out) == 10 and out[0].shape == (56, 100, 3) and len(text_calls) == 1 and "image" not in text_calls[0]


def test_ti2v_does_not_fill_gaps_and_says_why(models):
    with pytest.raises(EngineUnavailable, match=r"tiny-ti2v does not serve fill_gap \(Wan 2\.2 TI2V: it is "
                                                r"conditioned on one first frame"):
        select_model("fill_gap", "tiny-ti2v", settings_for(models))


def test_ti2v_tail_extension_renders_through_server_render(models, tmp_path, monkeypatch):
    warm.drop_pipelines()
    clip = copy_media(tmp_path / "media", CARPHONE[0])
    job = render_in_process(models, tmp_path / "out", clip, monkeypatch, operation="extend", track=0, frame=70,
                            side="tail", frames=20, model="tiny-ti2v", steps=2)
    (placement,) = job["placements"]
    assert (job["model"], placement["record_frame"], placement["frames"]) == ("tiny-ti2v", 120, 20)
    assert media_facts(placement["media"]) == (Fraction(30000, 1001), (176, 144), placement["source_in"] + 20)


# ------------------------------------------------------------------------------ A14B two-expert VACE
def test_two_expert_vace_takes_guidance_2(models, monkeypatch):
    from diffusers import WanVACEPipeline

    calls = spy_on(monkeypatch, WanVACEPipeline)
    info = inspect_pipeline(models / "tiny-vace2", "tiny-vace2", "models folder")
    assert (info.family, info.experts) == ("wan-vace", 2)
    engine = DiffusersEngine(operation="fill_gap", model="tiny-vace2", settings=settings_for(models))

    def fill(**options):
        return list(engine.fill_gap(frames_of(6), frames_of(6, seed=1), 5,
                                    job_at(8, options={"guidance": 3.0, **options})))

    low, high, same = fill(guidance_2=1.0), fill(guidance_2=6.0), fill()
    windows = len(calls) // 3
    # each window of each fill: None is "as guidance", in the pipeline
    assert [c["guidance_scale_2"] for c in calls] == [1.0] * windows + [6.0] * windows + [None] * windows
    assert len(low) == 5 and not all(np.array_equal(a, b) for a, b in zip(low, high))
    assert not all(np.array_equal(a, b) for a, b in zip(same, low))
    one = DiffusersEngine(operation="extend", model="tiny-ti2v", settings=settings_for(models))
    with pytest.raises(RequestError, match="guidance_2 is for two-expert models"):
        list(one.extend(frames_of(3), 3, "tail", job_at(8, options={"guidance_2": 2.0})))


def test_two_expert_vace_outpaints_through_server_render(models, tmp_path, monkeypatch):
    warm.drop_pipelines()
    clip = copy_media(tmp_path / "media", CARPHONE[0])
    job = render_in_process(models, tmp_path / "out", clip, monkeypatch, operation="outpaint", track=0, frame=10,
                            canvas=[144, 256], model="tiny-vace2", steps=2)
    (placement,) = job["placements"]
    where = (job["model"], placement["track"], placement["record_frame"], placement["frames"])
    assert where == ("tiny-vace2", 1, 0, 55)
    assert media_facts(placement["media"]) == (Fraction(30000, 1001), (144, 256), placement["source_in"] + 55)
    warm.drop_pipelines()


def test_the_fast_path_goes_on_both_transformers(models, monkeypatch):
    from diffusers import WanVACETransformer3DModel

    compiled, backends = [], []
    original = WanVACETransformer3DModel.set_attention_backend

    def record_backend(self, name):
        backends.append((id(self), name))
        return original(self, name)

    monkeypatch.setattr(fast, "ACCELERATED", ("cuda", "cpu"))  # try every lever on the CPU, as on a GPU
    monkeypatch.setattr(fast, "compile_blocks", lambda transformer: compiled.append(id(transformer)))
    monkeypatch.setattr(WanVACETransformer3DModel, "set_attention_backend", record_backend)
    warm.drop_pipelines()
    engine = DiffusersEngine(operation="generate", model="tiny-vace2",
                             settings=settings_for(models, diffusers_fast=True))
    assert len(list(engine.generate(9, (48, 32), job_at(8)))) == 9
    loaded = warm.get_pipeline(engine.info, engine.plan, True)
    experts = {id(loaded.pipe.transformer), id(loaded.pipe.transformer_2)}
    assert len(experts) == 2 and set(compiled) == experts
    assert {who for who, _ in backends} == experts
    high, low = loaded.fast.cache.parts
    assert high.misses > 0 and low.misses > 0  # each expert ran through its own cache
    warm.drop_pipelines()


def test_doctor_says_what_each_model_serves_and_why_not(models, tmp_path):
    root = tmp_path / "models"
    for name in ("tiny-ti2v", "tiny-vace2"):
        shutil.copytree(models / name, root / name)
    save_tiny_ltx(root / "tiny-ltx")
    save_tiny_pipeline(root / "tiny-vace")
    (tmp_path / "none.toml").write_text("")
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    out = subprocess.run([sys.executable, "-m", "server.cli", "doctor", "--models", str(root)], env=env,
                         capture_output=True, text=True, cwd=REPO, timeout=120).stdout
    lines = {line.split(":")[0].split()[-1]: line for line in out.splitlines() if line.startswith("  model")}
    assert lines["tiny-ltx"].startswith("  model    tiny-ltx: usable (extend, fill_gap, generate; no outpaint: it is "
                                        "conditioned on whole frames"), out
    assert "LTX-Video: " in lines["tiny-ltx"] and "grid 32 px, frames 8k+1" in lines["tiny-ltx"]
    assert lines["tiny-ti2v"].startswith("  model    tiny-ti2v: usable (extend, generate; no fill_gap: it is "
                                         "conditioned on one first frame"), out
    assert "no outpaint: it takes no mask" in lines["tiny-ti2v"] and "Wan 2.2 TI2V: " in lines["tiny-ti2v"]
    assert lines["tiny-vace2"].startswith("  model    tiny-vace2: usable (extend, fill_gap, outpaint, generate, inpaint) — "
                                          "Wan VACE: "), out
    assert "WanVACEPipeline, two experts" in lines["tiny-vace2"] and "two experts" not in lines["tiny-vace"]


def test_the_block_step_cache_is_exact_for_a_plain_wan_transformer():
    """TI2V and LTX add nothing between their blocks: diffusers' First-Block cache is exact on a hit."""
    from diffusers import WanTransformer3DModel

    from server.engines.diffusers.families import conditioner_for

    torch.manual_seed(0)
    transformer = WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                        in_channels=16, out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32,
                                        num_layers=3, rope_max_seq_len=32).eval()
    g = torch.Generator().manual_seed(1)
    inputs = dict(hidden_states=torch.randn(1, 16, 3, 4, 6, generator=g), timestep=torch.tensor([500]),
                  encoder_hidden_states=torch.randn(1, 8, 32, generator=g), return_dict=False)
    with torch.no_grad():
        plain = transformer(**inputs)[0]
        cache = conditioner_for("wan22-ti2v").step_cache(fast.CACHE_THRESHOLD).apply(transformer)
        with transformer.cache_context("cond"):
            first, second = (transformer(**inputs)[0] for _ in range(2))
        cache.remove()
    assert (cache.misses, cache.hits) == (1, 1)
    assert torch.allclose(first, plain, atol=1e-5) and torch.allclose(second, plain, atol=1e-5)
