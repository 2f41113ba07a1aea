"""What a model folder allows, read from its configs: reported by ``shotforge doctor --models`` and
used by the engine; and a model failing at run time reaches ``shotforge render`` as one line.

Tiny folders that differ from the usual tiny model where a guess would go wrong: a rotary table of
3 positions a side (so at most 9 frames and 48x48 pixels; once with its default size, once at
48x48), a 4x4 patch (a 32-pixel grid), and one asking in its ``shotforge.json`` for more frames than
its table covers.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the diffusers engine needs torch (scripts/setup.sh --diffusers)")
pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")

from server.engines.diffusers import warm  # noqa: E402
from server.engines.diffusers.canvas import Canvas  # noqa: E402
from server.engines.diffusers.models import inspect_pipeline  # noqa: E402
from tests.serverutil import CARPHONE, REPO, copy_media, request_json, two_clip_timeline  # noqa: E402
from tests.tiny_wan import (  # noqa: E402, F401 (one_torch_thread: an autouse fixture)
    OFFLINE_ENV, TINY_NATIVE, job_at, one_torch_thread, save_tiny_pipeline, settings_for)

SHORT = {"fps": 8, "overlap": 4, "steps": 2, "guidance": 1.0}  # no size or window: the model's own


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    save_tiny_pipeline(root / "short-rope", transformer={"rope_max_seq_len": 3}, native=SHORT)
    save_tiny_pipeline(root / "short-square", transformer={"rope_max_seq_len": 3},
                       native={**SHORT, "width": 48, "height": 48})  # at its limit: a wide picture must shrink
    save_tiny_pipeline(root / "patch-4", transformer={"patch_size": (1, 4, 4)},
                       native={**TINY_NATIVE, "width": 64, "height": 32})
    save_tiny_pipeline(root / "asks-too-much", transformer={"rope_max_seq_len": 3}, native=TINY_NATIVE)
    return root


def test_limits_come_from_the_configs(models):
    short = inspect_pipeline(models / "short-rope", "short-rope", "models folder").native
    assert (short.limit_frames, short.limit_width, short.limit_height) == (9, 48, 48)  # (3-1)*4+1; 3 x 2 x 8
    assert (short.max_frames, short.width, short.height, short.multiple) == (9, 48, 16, 16)  # 832x480 fitted
    patch = inspect_pipeline(models / "patch-4", "patch-4", "models folder").native
    assert (patch.multiple, patch.temporal) == (32, 4)
    for size in ((64, 36), (36, 64), (100, 41), (40, 40)):
        canvas = Canvas.fit(size, patch)
        assert canvas.mw % 32 == 0 and canvas.mh % 32 == 0, (size, canvas)
        canvas = Canvas.fit(size, dataclasses.replace(short, width=48, height=48))
        assert canvas.mw <= 48 and canvas.mh <= 48, (size, canvas)
    asks = inspect_pipeline(models / "asks-too-much", "asks-too-much", "models folder")
    assert any("max_frames 13 is more than this model takes: 9 frames" in p for p in asks.problems), asks.problems


def test_doctor_reports_each_models_limits(models, tmp_path):
    (tmp_path / "none.toml").write_text("")
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    out = subprocess.run([sys.executable, "-m", "server.cli", "doctor", "--models", str(models)], env=env,
                         capture_output=True, text=True, cwd=REPO, timeout=120).stdout
    lines = {line.split(":")[0].split()[-1]: line for line in out.splitlines() if line.startswith("  model")}
    assert "native 48x16 at 8 fps, grid 16 px, frames 4k+1 up to 9" in lines["short-rope"], out
    assert "native 64x32 at 8 fps, grid 32 px, frames 4k+1 up to 13" in lines["patch-4"], out
    assert "not usable" in lines["asks-too-much"] and "rope_max_seq_len" in lines["asks-too-much"], out


def test_the_engine_keeps_inside_the_limits(models):
    from server.engines.diffusers import DiffusersEngine

    engine = DiffusersEngine(operation="generate", model="short-square", settings=settings_for(models))
    loaded = warm.get_pipeline(engine.info, engine.plan, False)
    seen = []
    hook = loaded.pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(tuple(kwargs["hidden_states"].shape)), with_kwargs=True)
    try:
        out = list(engine.generate(20, (64, 36), job_at(8)))  # 20 model frames, a picture wider than 48 at 16:9
    finally:
        hook.remove()
    assert len(out) == 20 and out[0].shape == (36, 64, 3)
    assert seen and all(frames <= 3 and h * 8 <= 48 and w * 8 <= 48 for _, _, frames, h, w in seen), seen
    assert engine.context_frames(Fraction(25)) == 14  # 5 model frames at 8 fps: the first and one latent group
    patch = DiffusersEngine(operation="generate", model="patch-4", settings=settings_for(models))
    assert [f.shape for f in patch.generate(3, (100, 41), job_at(8))] == [(41, 100, 3)] * 3  # on its 32-pixel grid


def test_a_model_failing_at_run_time_reaches_render_as_one_line(tmp_path):
    models = tmp_path / "models"
    save_tiny_pipeline(models / "bad-vae", vae={"z_dim": 8})  # loads, then its latents do not fit the transformer
    clip = copy_media(tmp_path / "media", CARPHONE[0])
    request = tmp_path / "gap.otio"
    request.write_text(request_json(two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10), engine="diffusers",
                                    operation="fill_gap", track=0, frame=60, steps=2))
    (tmp_path / "none.toml").write_text("")
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    env.pop("SHOTFORGE_MODELS", None)
    out = subprocess.run([sys.executable, "-m", "server.cli", "render", str(request), "--out", str(tmp_path / "r"),
                          "--models", str(models)], env=env, capture_output=True, text=True, cwd=REPO, timeout=120)
    errors = [line for line in out.stderr.splitlines() if line.startswith("shotforge render")]
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert len(errors) == 1 and "diffusers engine: bad-vae, window 1/1: RuntimeError: shape" in errors[0], out.stderr
    assert not (tmp_path / "r" / "job.json").exists()
    assert json.loads((models / "bad-vae" / "shotforge.json").read_text()) == TINY_NATIVE
