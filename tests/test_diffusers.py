"""The diffusers engine on tiny, randomly initialised Wan2.1 VACE pipelines (CPU, no network).

The tiny pipeline is built offline and saved with ``save_pretrained`` into a temporary models
folder (tests/tiny_wan.py), then found and loaded by the same discovery and loading code as real
weights. Its ``shotforge.json`` gives it a 48x32 native picture at 8 fps and 13-frame windows, so
every request here is resized, retimed and split into overlapping windows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("torch", reason="the diffusers engine needs torch: scripts/setup.sh installs it "
                                    "(pip install torch==2.13.0 && pip install -e '.[diffusers]')")
pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")

from server.engines.base import Canceled, EngineUnavailable, OutpaintLayout  # noqa: E402
from tests.serverutil import (CARPHONE, REPO, ServerProcess, copy_media, read_events, request_json,  # noqa: E402
                              two_clip_timeline)
from tests.tiny_wan import (  # noqa: E402, F401 (one_torch_thread: an autouse fixture)
    OFFLINE_ENV, engine_for, frames_of, job_at, one_torch_thread, save_tiny_pipeline, settings_for)

JSON = {"Content-Type": "application/json"}

@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A models folder: a good tiny pipeline, and one whose VAE folder is missing."""
    root = tmp_path_factory.mktemp("models")
    save_tiny_pipeline(root / "tiny-vace")
    shutil.copytree(root / "tiny-vace", root / "broken-vace")
    shutil.rmtree(root / "broken-vace" / "vae")
    return root


# ---------------------------------------------------------------------------------- engine level
@pytest.mark.parametrize("rate, frames, side, dtype", [
    (Fraction(24000, 1001), 30, "tail", np.uint8),  # 23.976 -> 8 fps: 3 windows
    (Fraction(25), 7, "head", np.uint16),  # backwards, 16-bit kept
    (Fraction(60000, 1001), 4, "tail", np.uint8),
])
def test_extend_lands_exact_count_size_and_dtype(models, rate, frames, side, dtype):
    engine = engine_for(models, "extend")
    assert engine.model == "tiny-vace"
    context = frames_of(8, dtype=dtype)
    out = list(engine.extend(context, frames, side, job_at(rate)))
    assert len(out) == frames
    assert all(f.shape == (36, 64, 3) and f.dtype == dtype for f in out)


def test_fill_gap_short_and_long_and_generate_and_outpaint_counts(models):
    fill = engine_for(models, "fill_gap")
    for gap in (1, 3, 40):
        out = list(fill.fill_gap(frames_of(8), frames_of(8, seed=1), gap, job_at(Fraction(30000, 1001))))
        assert len(out) == gap and out[0].shape == (36, 64, 3)
    gen = engine_for(models, "generate")
    out = list(gen.generate(25, (100, 56), job_at(50), reference=frames_of(1, size=(100, 56))[0], dtype=np.uint16))
    assert len(out) == 25 and out[0].shape == (56, 100, 3) and out[0].dtype == np.uint16
    pic = frames_of(20, size=(64, 36))
    layout = OutpaintLayout(canvas=(36, 64), inner=(36, 20), offset=(0, 22))
    inner = [f[:20, :36] for f in pic]
    out = list(engine_for(models, "outpaint").outpaint(inner, layout, job_at(25)))
    assert len(out) == 20 and out[0].shape == (64, 36, 3)
    for src, made in zip(inner, out):  # the source picture is pasted back untouched
        assert np.array_equal(made[22:42, 0:36], src)


def test_retiming_uses_the_classical_flow_interpolator():
    from server.engines.diffusers.canvas import to_unit
    from server.engines.diffusers.retime import Retimer

    import cv2

    texture = cv2.GaussianBlur(np.random.default_rng(0).random((120, 200, 3)).astype(np.float32), (0, 0), 3)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    pan = [(texture[20:84, 10 + 3 * i:122 + 3 * i] * 255).astype(np.uint8) for i in range(5)]  # 3 px a frame
    a, b = to_unit(pan[0]), to_unit(pan[4])
    middle = Retimer().between(a, b, 0.5).astype(np.float32)
    dissolve = 0.5 * (a.astype(np.float32) + b.astype(np.float32))
    truth = to_unit(pan[2]).astype(np.float32)
    assert middle.shape == a.shape
    # flow follows the motion; a dissolve of the two pictures would be much further from the truth
    assert np.abs(middle - truth).mean() < 0.5 * np.abs(dissolve - truth).mean()


def test_seeds_are_reproducible_and_matter(models):
    engine = engine_for(models, "generate")
    a = list(engine.generate(9, (64, 36), job_at(24, seed=11)))
    b = list(engine.generate(9, (64, 36), job_at(24, seed=11)))
    c = list(engine.generate(9, (64, 36), job_at(24, seed=12)))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_fast_path_is_opt_in_and_applies_what_this_device_allows(models):
    from server.engines.diffusers import warm

    engine = engine_for(models, "generate", diffusers_fast=True)
    out = list(engine.generate(9, (64, 36), job_at(24)))
    assert len(out) == 9
    loaded = warm.get_pipeline(engine.info, engine.plan, True)
    # on a CPU: the VACE-safe step cache only; no compile, no attention backend switch
    assert loaded.fast.describe() == "step cache (0.05)" and loaded.fast.cache.misses > 0
    plain = engine_for(models, "generate")
    list(plain.generate(5, (64, 36), job_at(24)))
    assert warm.get_pipeline(plain.info, plain.plan, False).fast is None


def test_progress_per_step_and_cancel_within_one_step(models):
    engine = engine_for(models, "generate")
    seen: list[str] = []
    job = job_at(24, options={"steps": 50})

    def progress(fraction, stage):
        seen.append(stage)
        if sum("step" in s for s in seen) == 3:
            job.cancel_event.set()

    job.on_progress = progress
    with pytest.raises(Canceled):
        list(engine.generate(40, (64, 36), job))
    steps = [s for s in seen if "step" in s]
    assert steps[:3] == ["tiny-vace: window 1/2, step 1/50", "tiny-vace: window 1/2, step 2/50",
                         "tiny-vace: window 1/2, step 3/50"]
    assert len(steps) == 3  # stopped at the end of the step in which cancel was asked


def test_request_options_are_checked(models):
    from otio_tools import RequestError

    engine = engine_for(models, "generate")
    with pytest.raises(RequestError, match="steps must be between"):
        list(engine.generate(5, (64, 36), job_at(24, options={"steps": 0})))
    with pytest.raises(RequestError, match="guidance must be a number"):
        list(engine.generate(5, (64, 36), job_at(24, options={"guidance": "lots"})))


def test_broken_and_unloadable_models_give_clear_errors(models, tmp_path):
    from server.engines.diffusers import DiffusersEngine

    with pytest.raises(EngineUnavailable, match=r"broken-vace .* is broken: component 'vae' .* is missing"):
        DiffusersEngine(operation="extend", model="broken-vace", settings=settings_for(models))
    with pytest.raises(EngineUnavailable, match="no model called 'nope'"):
        DiffusersEngine(operation="extend", model="nope", settings=settings_for(models))
    # present and complete on disk, but its weights do not fit its config: fails when loaded, named
    odd = tmp_path / "odd"
    shutil.copytree(models / "tiny-vace", odd / "odd-vace")
    config = odd / "odd-vace" / "transformer" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "ffn_dim": 48}))
    engine = engine_for(odd, "generate")
    with pytest.raises(EngineUnavailable, match=r"model odd-vace .* cannot be loaded: .*"):
        list(engine.generate(5, (64, 36), job_at(24)))
    # a truncated weights file is caught without loading anything
    weights = odd / "odd-vace" / "vae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(EngineUnavailable, match="damaged weights file"):
        engine_for(odd, "generate")


def test_availability_lists_models_and_explains_cpu_and_packages(models, monkeypatch):
    from server.engines import diffusers as d
    from server.engines.diffusers import devices

    avail = d.DiffusersEngine(settings=settings_for(models)).availability()
    assert avail.usable, avail.reason
    assert avail.details["models"]["tiny-vace"].startswith("usable (extend, fill_gap, outpaint, generate, inpaint)")
    assert "component 'vae'" in avail.details["models"]["broken-vace"]
    empty = d.DiffusersEngine(settings=settings_for(None)).availability()
    assert not empty.usable and "no models folder configured" in empty.reason
    monkeypatch.setattr(devices, "CPU_MAX_PARAMS", 1000)  # as if it were a real (large) model without a GPU
    avail = d.DiffusersEngine(settings=settings_for(models)).availability()
    assert not avail.usable and "no GPU" in avail.details["models"]["tiny-vace"]
    assert d.DiffusersEngine(settings=settings_for(models, diffusers_device="cpu")).availability().usable
    monkeypatch.setattr(devices, "missing_packages", lambda: ["torch", "diffusers"])
    avail = d.DiffusersEngine(settings=settings_for(models)).availability()
    assert not avail.usable and "torch, diffusers" in avail.reason and "tiny-vace" in avail.details["models"]


def test_auto_without_models_folder_imports_no_torch(tmp_path):
    code = ("import sys, server.engines.diffusers; from otio_tools.request import Request;"
            "from server.render import choose_engine;"
            "r = Request(operation='generate', track=0, engine='auto');"
            "print(choose_engine(r), 'torch' in sys.modules, 'diffusers' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    env.pop("SHOTFORGE_MODELS", None)
    (tmp_path / "none.toml").write_text("")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO)
    assert out.stdout.split() == ["classical", "False", "False"], out.stderr


def test_models_in_the_hugging_face_cache_are_found_offline(models, tmp_path, monkeypatch):
    from server.engines.diffusers import select_model

    repo = tmp_path / "hub" / "models--Wan-AI--Tiny-VACE-diffusers"
    shutil.copytree(models / "tiny-vace", repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    other = tmp_path / "hub" / "models--someone--an-image-model" / "snapshots" / "1"
    other.mkdir(parents=True)
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    info, plan = select_model("fill_gap", None, settings_for(None, hf_cache=True))
    assert (info.name, info.source) == ("Wan-AI/Tiny-VACE-diffusers", "Hugging Face cache")
    engine = engine_for(None, "fill_gap", hf_cache=True)
    assert len(list(engine.fill_gap(frames_of(3), frames_of(3), 6, job_at(24)))) == 6
    with pytest.raises(EngineUnavailable, match="no models folder is configured"):
        select_model("fill_gap", None, settings_for(None, hf_cache=False))


def test_auto_picks_diffusers_only_where_a_model_is_usable(models, tmp_path, monkeypatch):
    from otio_tools.request import Request
    from server import settings as st
    from server.engines.diffusers import devices
    from server.render import choose_engine

    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("SHOTFORGE_CONFIG", str(tmp_path / "none.toml"))
    st.activate(st.load_settings(models=str(models), hf_cache=False))
    try:
        request = Request(operation="outpaint", track=0, engine="auto")
        assert choose_engine(request) == "diffusers"
        assert choose_engine(Request(operation="outpaint", track=0, engine="auto",
                                     extra={"model": "broken-vace"})) == "classical"
        monkeypatch.setattr(devices, "CPU_MAX_PARAMS", 1000)  # as if it were a real model on this GPU-less machine
        assert choose_engine(request) == "classical"
    finally:
        st.activate(None)


def test_doctor_lists_models(models, tmp_path):
    (tmp_path / "none.toml").write_text("")
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    out = subprocess.run([sys.executable, "-m", "server.cli", "doctor", "--models", str(models)], env=env,
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert "engine     diffusers: usable — 1 of 2 model(s) usable: tiny-vace" in out.stdout, out.stdout + out.stderr
    assert "  model    tiny-vace: usable (extend, fill_gap, outpaint, generate, inpaint)" in out.stdout
    assert "  model    broken-vace: not usable" in out.stdout and "component 'vae'" in out.stdout


def test_render_command_with_models_flag(models, tmp_path):
    clip = copy_media(tmp_path / "media", CARPHONE[0])
    request = tmp_path / "gap.otio"
    request.write_text(request_json(two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10), engine="auto",
                                    operation="fill_gap", track=0, frame=60, steps=2))
    (tmp_path / "none.toml").write_text("")
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    env.pop("SHOTFORGE_MODELS", None)
    out = subprocess.run([sys.executable, "-m", "server.cli", "render", str(request), "--out", str(tmp_path / "r"),
                          "--models", str(models)], env=env, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    job = json.loads((tmp_path / "r" / "job.json").read_text())
    assert (job["engine"], job["model"]) == ("diffusers", "tiny-vace") and job["placements"][0]["frames"] == 10


# ------------------------------------------------------------------------------ through a server
@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    clip = copy_media(root, CARPHONE[0])
    out = tmp_path_factory.mktemp("srv") / "out"
    with ServerProcess(out, "--media-root", str(root), "--models", str(models), env=OFFLINE_ENV) as srv:
        yield srv, clip, out


def carphone_requests(clip: Path) -> dict[str, str]:
    """V1: A = media 0-54 at record 0-54, gap 55-64, B = media 65-119 at 65-119 (29.97 fps, 176x144);
    B ends with the file, so its tail has no handles to copy: every extended frame is made."""
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    return {
        "slow": request_json(tl, engine="diffusers", operation="generate", track=0, range=[130, 190], steps=400),
        "extend": request_json(tl, engine="auto", operation="extend", track=0, frame=70, side="tail", frames=20,
                               prompt="the car drives on", steps=12),
        "fill_gap": request_json(tl, engine="auto", operation="fill_gap", track=0, frame=60, steps=12),
        "outpaint": request_json(tl, engine="auto", operation="outpaint", track=0, frame=10, canvas=[144, 256],
                                 steps=3),
        "generate": request_json(tl, engine="auto", operation="generate", track=0, range=[130, 147],
                                 prompt="a car at dusk", steps=12, guidance=2.0),
    }


EXPECTED = {  # operation: (track, record_frame, frames, (width, height))
    "extend": (0, 120, 20, (176, 144)),
    "fill_gap": (0, 55, 10, (176, 144)),
    "outpaint": (1, 0, 55, (144, 256)),
    "generate": (0, 130, 17, (176, 144)),  # placement auto: V1 is free past its last clip
}


def wait_stepping(c, job_id: str) -> None:
    """Until the job is denoising (past loading the model)."""
    deadline = time.monotonic() + 60
    while True:
        job = c.get(f"/v1/jobs/{job_id}").json()
        if job["state"] == "running" and "step" in (job["stage"] or ""):
            return
        assert time.monotonic() < deadline and job["state"] in ("queued", "running"), job
        time.sleep(0.05)


def test_each_operation_through_the_server(server):
    srv, clip, out = server
    with srv.client(timeout=60) as c:
        engines = {e["name"]: e for e in c.get("/v1/engines").json()["engines"]}
        diff = engines["diffusers"]
        assert diff["usable"] and set(diff["details"]["models"]) == {"tiny-vace", "broken-vace"}
        listed = {m["name"]: m for m in diff["details"]["model_list"]}
        assert listed["tiny-vace"]["operations"] == ["extend", "fill_gap", "outpaint", "generate", "inpaint"]
        assert not listed["broken-vace"]["usable"] and "vae" in listed["broken-vace"]["reason"]
        requests = carphone_requests(clip)
        blocker = c.post("/v1/jobs", content=requests.pop("slow"), headers=JSON).json()["id"]
        streams, threads = {}, []
        for op, body in requests.items():  # queued behind the blocker while their event streams connect
            r = c.post("/v1/jobs", content=body, headers=JSON)
            assert r.status_code == 202, r.text

            def follow(op=op, job_id=r.json()["id"]):
                with srv.client(timeout=120) as own:
                    streams[op] = read_events(own, job_id)
            threads.append(threading.Thread(target=follow))
            threads[-1].start()
        wait_stepping(c, blocker)
        assert c.delete(f"/v1/jobs/{blocker}").json()["state"] == "canceled"
        for t in threads:
            t.join(180)
        for op in requests:
            events = streams[op]
            job = events[-1]
            assert job["state"] == "done", (op, job)
            progress = [e["progress"] for e in events]
            assert progress == sorted(progress), (op, progress)
            assert any("step" in (e["stage"] or "") for e in events), (op, [e["stage"] for e in events])
            result = job["result"]
            assert (result["engine"], result["model"], result["placeholder"]) == ("diffusers", "tiny-vace", False)
            (placement,) = result["placements"]
            track, record, frames, size = EXPECTED[op]
            assert (placement["track"], placement["record_frame"], placement["frames"]) == (track, record, frames)
            with av.open(placement["media"]) as container:
                stream = container.streams.video[0]
                assert stream.average_rate == Fraction(30000, 1001)
                assert (stream.codec_context.width, stream.codec_context.height) == size
                assert sum(1 for _ in container.decode(video=0)) == placement["source_in"] + frames
            assert json.loads((Path(placement["media"]).parent / "job.json").read_text())["engine"] == "diffusers"
    assert srv.log.read_text().count("loaded tiny-vace") == 1  # loaded once, kept warm for every later job


def test_cancel_through_the_server_leaves_nothing(server):
    srv, clip, out = server
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    slow = carphone_requests(clip)["slow"]
    with srv.client(timeout=60) as c:
        job_id = c.post("/v1/jobs", content=slow, headers=JSON).json()["id"]
        wait_stepping(c, job_id)
        t0 = time.monotonic()
        r = c.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["state"] == "canceled", r.json()
        assert time.monotonic() - t0 < 2.0
        assert not (out / job_id).exists()
        # bad engine options are refused before anything is queued
        r = c.post("/v1/jobs", content=request_json(tl, engine="diffusers", operation="generate", track=0,
                                                    range=[130, 135], steps=-3), headers=JSON)
        assert r.status_code == 400 and "steps must be between 1 and 500" in r.json()["error"]["message"], r.text
        # a model named in the request that is broken: refused before it is queued, with the reason
        bad = request_json(tl, engine="diffusers", operation="generate", track=0, range=[130, 135],
                           model="broken-vace")
        r = c.post("/v1/jobs", content=bad, headers=JSON)
        assert r.status_code == 422 and r.json()["error"]["code"] == "engine_unavailable", r.text
        assert "broken-vace" in r.json()["error"]["message"] and "component 'vae'" in r.json()["error"]["message"]


def test_a_model_gets_context_counted_in_its_own_frames(models, tmp_path, monkeypatch):
    """8 timeline frames are 2 model frames of the tiny 8 fps model at 29.97: the planner asks the
    model how many it wants (at least one latent group a side), the classical engine keeps 8."""
    import opentimelineio as otio

    from otio_tools.plan import CONTEXT_FRAMES
    from otio_tools.request import request_from_timeline
    from server import settings as st
    from server.engines.diffusers import select_model
    from server.engines.diffusers.windows import context_frames
    from server.render import plan_job

    clip = copy_media(tmp_path / "media", CARPHONE[0])
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("SHOTFORGE_CONFIG", str(tmp_path / "none.toml"))
    st.activate(st.load_settings(models=str(models), hf_cache=False))
    try:
        wanted = context_frames(CARPHONE[1], select_model("fill_gap", "tiny-vace", st.active_settings())[0].native)
        assert wanted > CONTEXT_FRAMES
        for engine, frames in (("diffusers", wanted), ("classical", CONTEXT_FRAMES)):
            timeline = otio.adapters.read_from_string(request_json(
                two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10), engine=engine, model="tiny-vace",
                operation="fill_gap", track=0, frame=60), "otio_json")
            plan = plan_job(timeline, request_from_timeline(timeline)).plan
            assert len(plan.context.indices) == len(plan.after.indices) == frames, engine
            assert plan.context.indices[-1] == 54 and plan.after.indices[0] == 65
    finally:
        st.activate(None)
