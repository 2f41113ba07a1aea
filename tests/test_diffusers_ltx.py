"""The LTX-Video family on a tiny, randomly initialised ``LTXConditionPipeline`` (CPU, no network).

The tiny pipeline keeps LTX's real grid and frame rule (a VAE of 32x in space, 8x in time: 32-pixel
pictures, 8k+1 frames), is saved with ``save_pretrained`` and loaded by the same code as real
weights (tests/tiny_ltx.py). Its ``shotforge.json`` makes it 64x32 at 8 fps with 17-frame windows.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the diffusers engine needs torch (scripts/setup.sh --diffusers)")
pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")

from server.engines.base import EngineUnavailable  # noqa: E402
from server.engines.diffusers import DiffusersEngine, select_model, warm  # noqa: E402
from server.engines.diffusers.families.ltx import conditions_for  # noqa: E402
from server.engines.diffusers.models import inspect_pipeline  # noqa: E402
from tests.serverutil import CARPHONE, copy_media  # noqa: E402
from tests.tiny_ltx import media_facts, render_in_process, save_tiny_ltx  # noqa: E402
from tests.tiny_wan import (  # noqa: E402, F401 (one_torch_thread: an autouse fixture)
    engine_for, frames_of, job_at, one_torch_thread, settings_for)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    save_tiny_ltx(root / "tiny-ltx")
    return root


@pytest.fixture
def calls(monkeypatch):
    """Every LTXConditionPipeline call's arguments, the call itself unchanged."""
    from diffusers import LTXConditionPipeline

    seen, original = [], LTXConditionPipeline.__call__

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LTXConditionPipeline, "__call__", spy)
    return seen


def placed(call) -> list[tuple[str, int, int]]:
    """A call's conditions as (kind, frame_index, frames)."""
    return [("video", c.frame_index, len(c.video)) if c.video is not None else ("image", c.frame_index, 1)
            for c in call["conditions"] or []]


def test_an_ltx_folder_is_recognised_with_its_own_grid_and_frame_rule(models, tmp_path):
    info = inspect_pipeline(models / "tiny-ltx", "tiny-ltx", "models folder")
    assert (info.family, info.loader, info.operations) == ("ltx", "LTXConditionPipeline",
                                                           ("extend", "fill_gap", "generate"))
    assert not info.problems and "outpaint" in info.not_served()
    n = info.native
    assert (n.multiple, n.temporal, n.width, n.height, n.fps, n.max_frames) == (32, 8, 64, 32, 8.0, 17)
    # without a shotforge.json: the published size and rate; saved as LTXPipeline it is still driven
    plain = tmp_path / "plain-ltx"
    shutil.copytree(models / "tiny-ltx", plain)
    (plain / "shotforge.json").unlink()
    index = json.loads((plain / "model_index.json").read_text())
    (plain / "model_index.json").write_text(json.dumps({**index, "_class_name": "LTXPipeline"}))
    n = inspect_pipeline(plain, "plain-ltx", "models folder").native
    assert (n.width, n.height, n.fps, n.max_frames, n.multiple, n.temporal) == (768, 512, 24.0, 121, 32, 8)
    assert inspect_pipeline(plain, "plain-ltx", "models folder").loader == "LTXConditionPipeline"


def test_conditions_line_up_with_the_latent_grid():
    t, f = True, False
    # a tail extension: the known run from frame 0 (the longest 8k+1 of it), then its last frame as a keyframe
    assert conditions_for([t] * 10 + [f] * 7, 8) == ([(0, 9)], [9])
    # a head extension: the known run after the frames to make starts on a latent frame at 8
    assert conditions_for([f] * 8 + [t] * 9, 8) == ([(8, 9)], [])
    # a gap fill: too few frames a side for a video condition later on: keyframes next to the gap
    assert conditions_for([t] * 5 + [f] * 7 + [t] * 5, 8) == ([(0, 1)], [1, 2, 3, 4, 12, 13, 14, 15, 16])
    # known frames beyond a latent boundary: a video condition from there, keyframes before it
    assert conditions_for([t] * 3 + [f] * 2 + [t] * 12, 8) == ([(0, 1), (8, 9)], [1, 2, 5, 6, 7])
    assert conditions_for([f] * 17, 8) == ([], [])


def test_extend_fill_and_generate_land_exact_counts_with_conditions_where_the_frames_are(models, calls):
    for rate, frames, side in ((Fraction(24000, 1001), 30, "tail"), (Fraction(25), 7, "head")):
        calls.clear()
        out = list(engine_for(models, "extend").extend(frames_of(8, dtype=np.uint16), frames, side, job_at(rate)))
        assert len(out) == frames and all(f.shape == (36, 64, 3) and f.dtype == np.uint16 for f in out)
        for call in calls:
            assert (call["num_frames"] - 1) % 8 == 0 and call["num_frames"] <= 17
            assert call["width"] % 32 == 0 and call["height"] % 32 == 0 and call["frame_rate"] == 8
            kinds = placed(call)
            assert kinds and all(kind == "image" or index % 8 == 0 for kind, index, _ in kinds), kinds
        first = placed(calls[0])
        if side == "tail":  # known frames first: a video condition at frame 0
            assert first[0][:2] == ("video", 0)
        else:  # made backwards from the clip: its frames sit at the end of the window
            assert min(index for _, index, _ in first) > 0
    calls.clear()
    out = list(engine_for(models, "fill_gap").fill_gap(frames_of(8), frames_of(8, seed=1), 40,
                                                       job_at(Fraction(30000, 1001))))
    assert len(out) == 40 and out[0].shape == (36, 64, 3)
    closing = placed(calls[-1])  # the window joining the far shot: conditions on both sides of what it makes
    covered = {j for _, index, n in closing for j in range(index, index + n)}
    first_made = min(set(range(calls[-1]["num_frames"])) - covered)
    assert 0 in covered and max(covered) > first_made, closing
    calls.clear()
    out = list(engine_for(models, "generate").generate(12, (100, 56), job_at(24)))
    assert len(out) == 12 and out[0].shape == (56, 100, 3) and all(c["conditions"] is None for c in calls)


def test_the_known_frames_condition_what_is_made(models):
    engine = engine_for(models, "extend")
    a = list(engine.extend(frames_of(8), 6, "tail", job_at(8)))
    b = list(engine.extend(frames_of(8, size=(64, 36))[::-1], 6, "tail", job_at(8)))
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))


def test_ltx_does_not_outpaint_and_says_why(models):
    with pytest.raises(EngineUnavailable, match=r"tiny-ltx does not serve outpaint \(LTX-Video: it is conditioned "
                                                r"on whole frames"):
        select_model("outpaint", "tiny-ltx", settings_for(models))
    avail = DiffusersEngine(settings=settings_for(models)).availability()
    line = avail.details["models"]["tiny-ltx"]
    assert line.startswith("usable (extend, fill_gap, generate; no outpaint: it is conditioned on whole frames")
    assert "LTX-Video: " in line and "grid 32 px, frames 8k+1 up to 17" in line


def test_a_gap_fill_renders_through_server_render(models, tmp_path, monkeypatch):
    warm.drop_pipelines()
    clip = copy_media(tmp_path / "media", CARPHONE[0])
    job = render_in_process(models, tmp_path / "out", clip, monkeypatch, operation="fill_gap", track=0, frame=60,
                            model="tiny-ltx", steps=2)
    assert (job["engine"], job["model"]) == ("diffusers", "tiny-ltx")
    (placement,) = job["placements"]
    assert (placement["track"], placement["record_frame"], placement["frames"]) == (0, 55, 10)
    rate, size, count = media_facts(placement["media"])
    assert (rate, size, count) == (Fraction(30000, 1001), (176, 144), placement["source_in"] + 10)
