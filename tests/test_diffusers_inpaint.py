"""The diffusers engine's inpaint on tiny, randomly initialised Wan VACE pipelines (CPU, no network).

The pipelines are built offline and saved with ``save_pretrained`` (tests/tiny_wan.py,
tests/tiny_ltx.py), then found and loaded by the engine's own discovery and loading code. The tiny
VACE model works at 48x32-ish at 8 fps in 13-frame windows, so a 64x36 shot at 24 fps is resized,
retimed (three timeline frames a slot) and, past 37 frames, cut into two windows.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the diffusers engine needs torch: scripts/setup.sh installs it "
                                    "(pip install torch==2.13.0 && pip install -e '.[diffusers]')")
pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")

from server.engines.base import Canceled, EngineUnavailable, InpaintShot  # noqa: E402
from tests.tiny_ltx import save_tiny_ltx, save_tiny_two_expert_vace  # noqa: E402
from tests.tiny_wan import (  # noqa: E402, F401 (one_torch_thread: an autouse fixture)
    engine_for, frames_of, job_at, one_torch_thread, save_tiny_pipeline, settings_for)

SIZE = (64, 36)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """``all``: a tiny LTX-Video model (cannot inpaint), a tiny Wan 2.1 VACE one and a two-expert Wan 2.2
    VACE one; ``ltx``: the LTX one only."""
    root = tmp_path_factory.mktemp("models")
    save_tiny_ltx(root / "ltx" / "tiny-ltx")
    shutil.copytree(root / "ltx" / "tiny-ltx", root / "all" / "tiny-ltx")
    save_tiny_pipeline(root / "all" / "tiny-vace")
    save_tiny_two_expert_vace(root / "all" / "tiny-vace2")
    return root


def moving_box(n: int, size=SIZE) -> list[np.ndarray]:
    """A 16x12 region moving one pixel a frame to the right."""
    out = []
    for i in range(n):
        m = np.zeros((size[1], size[0]), bool)
        m[10:22, 12 + i:28 + i] = True
        out.append(m)
    return out


class Frames:
    """A random-access shot that counts its reads, as the render side's decoder hands frames out."""

    def __init__(self, frames):
        self.frames, self.reads = frames, 0

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        self.reads += 1
        return self.frames[i]


@pytest.fixture
def calls(monkeypatch):
    """Every WanVACEPipeline call: its keyword arguments and the frames it made."""
    from diffusers import WanVACEPipeline

    seen: list[dict] = []
    real = WanVACEPipeline.__call__

    def spy(self, *args, **kwargs):
        result = real(self, *args, **kwargs)
        seen.append({**kwargs, "made": np.asarray(result.frames[0], np.float32)})
        return result

    monkeypatch.setattr(WanVACEPipeline, "__call__", spy)
    return seen


@pytest.mark.parametrize("rate, dtype, placed", [
    (Fraction(24), np.uint8, range(3, 17)),  # three timeline frames a slot
    (Fraction(12), np.uint16, range(0, 10)),  # a slot between two frames: interpolated, masks joined
])
def test_outside_the_mask_is_the_source_bit_for_bit(models, calls, rate, dtype, placed):
    engine = engine_for(models / "all", "inpaint")
    assert engine.model == "tiny-vace"
    frames, masks = frames_of(20, dtype=dtype), moving_box(20)
    out = list(engine.inpaint(InpaintShot(frames, masks, placed), job_at(rate, prompt="a red car")))
    assert len(out) == len(placed) and len(calls) == 1
    for i, made in zip(placed, out):
        assert made.shape == (36, 64, 3) and made.dtype == dtype
        assert np.array_equal(made[~masks[i]], frames[i][~masks[i]])
        assert not np.array_equal(made[masks[i]], frames[i][masks[i]])  # the region was made again
    assert calls[0]["made"].shape[1:3] == (32, 64)  # made on the model's canvas, not at the shot's size


def test_the_feather_lies_inside_the_mask():
    from server.engines.diffusers.inpaint import composite

    source = np.full((20, 30, 3), 1000, np.uint16)
    made = np.full((20, 30, 3), 3000, np.uint16)
    mask = np.zeros((20, 30), bool)
    mask[5:15, 8:22] = True
    out = composite(source, made, mask, feather=2.0)
    assert out.dtype == np.uint16 and np.array_equal(out[~mask], source[~mask])
    assert (out[5, 8:22] == 2000).all() and (out[5:15, 8] == 2000).all()  # its outermost pixels: half and half
    assert (out[6:14, 9:21] == 3000).all()  # one pixel in: the model's picture whole
    whole = np.ones((20, 30), bool)  # a mask over the whole frame has no edge to feather
    assert np.array_equal(composite(source, made, whole, feather=2.0), made)


def test_mask_reaches_the_pipeline_white_where_to_make_and_the_region_is_hidden(models, calls):
    from server.engines.diffusers.inpaint import REMOVE_NEGATIVE, REMOVE_PROMPT

    engine = engine_for(models / "all", "inpaint")
    frames, masks = frames_of(12), moving_box(12)
    list(engine.inpaint(InpaintShot(frames, masks, range(12)), job_at(24, prompt="")))
    (call,) = calls
    # an empty prompt asks for removal, with the model's own negative prompt after the removal words
    assert call["prompt"] == REMOVE_PROMPT
    assert call["negative_prompt"].startswith(REMOVE_NEGATIVE + ", ") and "overexposed" in call["negative_prompt"]
    # canvas 64x32 holds the 64x36 picture as 57x32 at x=3: source (x, y) -> canvas (3 + x*57/64, y*32/36)
    first_mask, first_video = np.asarray(call["mask"][0]), np.asarray(call["video"][0])
    assert first_mask.shape == (32, 64) and set(np.unique(first_mask)) == {0, 255}
    assert first_mask[14, 20] == 255  # inside the region (source x=20, y=16): make
    assert first_mask[28, 50] == 0 and first_mask[4, 40] == 0  # well away from it: keep
    assert first_mask[16, 0] == 255 and first_mask[16, 63] == 255  # the grid padding is the model's to fill
    assert (first_video[14, 20] == 128).all()  # what is replaced is not shown to the model
    source = np.asarray(frames[0], float)[int(28 * 36 / 32), int((50 - 3) * 64 / 57)]
    assert np.abs(first_video[28, 50].astype(float) - source).max() < 12  # the rest is the (resized) picture
    # the region moves: the mask of a later slot follows it (slot 3 = frame 9: source x 21..36)
    later = np.asarray(call["mask"][3])
    assert later[14, 3 + int(34 * 57 / 64)] == 255 and first_mask[14, 3 + int(34 * 57 / 64)] == 0


def test_a_long_shot_is_made_in_windows_that_join_on_made_frames(models, calls):
    engine = engine_for(models / "all", "inpaint")
    shot = Frames(frames_of(48))
    masks = moving_box(48)
    out = list(engine.inpaint(InpaintShot(shot, masks, range(48)), job_at(24)))
    assert len(out) == 48 and len(calls) == 2
    for src, made, mask in zip(shot.frames, out, masks):
        assert np.array_equal(made[~mask], src[~mask])
    # 17 slots: the first window makes slots 0-12, the second 13-16 seen after slots 8-12
    first, second = calls
    assert len(first["video"]) == 13 and len(second["video"]) == 9
    for k in range(5):
        # known context: the whole frame kept, and inside the region what the first window made there
        assert not np.asarray(second["mask"][k]).any()
        region = np.asarray(first["mask"][8 + k]) == 255
        made = np.floor(np.clip(first["made"][8 + k] * 255 + 0.5, 0, 255))  # to 8 bits, as pictures are
        context = np.asarray(second["video"][k], float)
        assert np.abs(context[region] - made[region]).max() <= 1.0
        assert np.array_equal(context[~region], np.asarray(first["video"][8 + k])[~region])
    assert all(np.asarray(m).max() == 255 for m in second["mask"][5:])  # the new slots are made
    # the shot is read as its windows come: once for each slot and once for each frame put back
    assert shot.reads <= 17 + 48 + 1


def test_two_expert_wan22_vace_inpaints_with_its_low_noise_guidance(models, calls):
    from server.engines.diffusers import DiffusersEngine

    engine = DiffusersEngine(operation="inpaint", model="tiny-vace2", settings=settings_for(models / "all"))
    frames, masks = frames_of(10), moving_box(10)
    out = list(engine.inpaint(InpaintShot(frames, masks, range(10)), job_at(24, options={"guidance_2": 3.0})))
    assert len(out) == 10 and all(np.array_equal(o[~m], f[~m]) for o, f, m in zip(out, frames, masks))
    assert [c["guidance_scale_2"] for c in calls] == [3.0]


def test_progress_per_step_recipe_steps_and_cancel_between_steps(models):
    engine = engine_for(models / "all", "inpaint")
    job = job_at(24, options={"steps": 4})
    seen: list[str] = []

    def progress(fraction, stage):
        seen.append(stage)
        if sum("step" in s for s in seen) == 3:
            job.cancel_event.set()

    job.on_progress = progress
    with pytest.raises(Canceled):
        list(engine.inpaint(InpaintShot(frames_of(48), moving_box(48), range(48)), job))
    steps = [s for s in seen if "step" in s]
    assert steps == [f"tiny-vace: window 1/2, step {k}/4" for k in (1, 2, 3)]


def test_nothing_to_replace_gives_the_source_without_a_model(models, calls):
    engine = engine_for(models / "all", "inpaint")
    frames = frames_of(6)
    masks = [np.zeros((36, 64), bool)] * 6
    out = list(engine.inpaint(InpaintShot(frames, masks, range(1, 5)), job_at(24)))
    assert len(out) == 4 and all(np.array_equal(a, b) for a, b in zip(out, frames[1:5])) and not calls
    assert list(engine.inpaint(InpaintShot(frames, masks, range(0)), job_at(24))) == []


def test_bad_shots_are_refused_naming_the_frame(models, calls):
    engine = engine_for(models / "all", "inpaint")
    frames, masks = frames_of(6), moving_box(6)
    with pytest.raises(ValueError, match="6 frames but 5 masks"):
        engine.inpaint(InpaintShot(frames, masks[:5], range(6)), job_at(24))
    with pytest.raises(ValueError, match="placed frames 2-7 are not all inside the shot's 6 frames"):
        engine.inpaint(InpaintShot(frames, masks, range(2, 8)), job_at(24))
    odd = masks[:3] + [masks[3].astype(np.uint8)] + masks[4:]
    with pytest.raises(ValueError, match=r"the mask of frame 3 of the shot must be bool"):
        list(engine.inpaint(InpaintShot(frames, odd, range(6)), job_at(24)))
    assert not calls  # every mask is checked before the model runs


def test_auto_picks_a_vace_model_for_inpaint_and_a_model_that_cannot_is_refused(models, tmp_path, monkeypatch):
    from otio_tools.request import Request
    from server import settings as st
    from server.engines.diffusers import DiffusersEngine, select_model, serves
    from server.render import choose_engine

    info, _ = select_model("inpaint", None, settings_for(models / "all"))  # tiny-ltx comes first, and is passed over
    assert info.name == "tiny-vace" and "inpaint" in info.operations
    assert serves("inpaint", None, settings_for(models / "all"))
    assert not serves("inpaint", None, settings_for(models / "ltx"))
    refused = (r"tiny-ltx does not serve inpaint \(LTX-Video: it is conditioned on whole frames and cannot keep "
               r"part of a picture; it serves extend, fill_gap, generate\)")
    with pytest.raises(EngineUnavailable, match=refused):
        DiffusersEngine(operation="inpaint", model="tiny-ltx", settings=settings_for(models / "all"))
    extend = DiffusersEngine(operation="extend", model="tiny-ltx", settings=settings_for(models / "all"))
    with pytest.raises(EngineUnavailable, match=refused):
        extend.inpaint(InpaintShot(frames_of(2), moving_box(2), range(2)), job_at(24))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("SHOTFORGE_CONFIG", str(tmp_path / "none.toml"))
    request = Request(operation="inpaint", track=0, engine="auto", region=(12, 10, 16, 12))
    try:
        st.activate(st.load_settings(models=str(models / "all"), hf_cache=False))
        assert choose_engine(request) == "diffusers"
        st.activate(st.load_settings(models=str(models / "ltx"), hf_cache=False))
        assert choose_engine(request) == "classical"
    finally:
        st.activate(None)


def test_a_video_matte_is_decoded_once_for_the_render_check_the_engine_check_and_the_slots(models, calls, tmp_path,
                                                                                             monkeypatch):
    import opentimelineio as otio

    from otio_tools import request_from_timeline
    from server import lazy_frames, media_io
    from server.render import inpaint_shot, plan_job

    n, rate = 64, Fraction(24)  # three windows
    clip, matte = tmp_path / "clip.mov", tmp_path / "matte.mov"
    for path, pictures in ((clip, frames_of(n)), (matte, [np.repeat(m[..., None] * np.uint8(255), 3, 2)
                                                           for m in moving_box(n)])):
        with media_io.MediaWriter(str(path), width=SIZE[0], height=SIZE[1], rate=rate) as writer:
            for picture in pictures:
                writer.write(picture)
    timeline = otio.schema.Timeline()
    timeline.tracks.append(otio.schema.Track())
    timeline.tracks[0].append(otio.schema.Clip(
        name="A", source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(n, 24)),
        media_reference=otio.schema.ExternalReference(clip.as_uri())))
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "frame": 3, "engine": "classical",
                                      "mask": str(matte)}
    job_plan = plan_job(timeline, request_from_timeline(timeline))
    decoded: list[int] = []  # the matte frames converted to RGB, each time one is
    real = media_io.FrameReader.frames

    def frames(self, indices):
        if self.info.path == str(matte):
            decoded.extend(indices)
        return real(self, indices)

    monkeypatch.setattr(media_io.FrameReader, "frames", frames)
    # a budget of 48 masks: about a window's (39 frames), not the shot's (a 4K matte: 61 in 512 MB, against
    # a window of the real models of about 120 frames at 24 fps)
    monkeypatch.setattr(lazy_frames, "DEFAULT_BUDGET", 48 * SIZE[0] * SIZE[1])
    shot = inpaint_shot(job_plan.plan, np.uint8)
    out = list(engine_for(models / "all", "inpaint").inpaint(shot, job_at(rate)))
    assert len(out) == n and len(calls) == 3
    # once each for both checks and the slots (the engine's check no longer reads them all, evicting what
    # the slots read again); the composite re-reads the few that fell out of the budget behind the slots
    assert sorted(set(decoded)) == list(range(n)) and len(decoded) <= n + 8
