"""Bounds that fit the machine, on a real ``shotforge serve`` on 127.0.0.1 with the real planner:
canvas, frame and prompt limits from settings, and the memory and disk estimate checked before a
job starts, each refusal naming the figure and the setting to change."""

from __future__ import annotations

import re
import shutil

import pytest

from otio_tools.request import parse_request_json
from server import render
from tests.serverutil import BIKES, CARPHONE, ServerProcess, copy_media, request_json, two_clip_timeline

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    return root, copy_media(root, CARPHONE[0]), copy_media(root, BIKES[0])


def _refused(c, body: str, status: int, code: str, *words: str) -> str:
    r = c.post("/v1/jobs", content=body, headers=JSON)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], (word, error["message"])
    return error["message"]


def test_canvas_frames_and_prompt_limits_come_from_the_settings(tmp_path, media):
    root, carphone, _ = media
    tl = two_clip_timeline(carphone, CARPHONE[1])
    out = tmp_path / "out"
    env = {"SHOTFORGE_MAX_CANVAS_SIDE": "640", "SHOTFORGE_MAX_FRAMES": "30", "SHOTFORGE_MAX_PROMPT_CHARS": "100"}
    with ServerProcess(out, "--media-root", str(root), env=env) as srv, srv.client() as c:
        _refused(c, request_json(tl, operation="outpaint", track=0, frame=5, canvas=[1280, 720]), 422, "too_large",
                 "outpaint canvas is 1280x720", "640 pixels a side", "setting max_canvas_side")
        no_handles = two_clip_timeline(carphone, CARPHONE[1], clip_frames=55, gap=10)  # B ends with the file
        _refused(c, request_json(no_handles, operation="extend", track=0, frame=70, side="tail", frames=31), 422,
                 "too_large", "make 31 frames", "at most 30", "setting max_frames")
        _refused(c, request_json(tl, operation="generate", track=0, range=[200, 240], prompt="dusk"), 422,
                 "too_large", "40 frames", "setting max_frames")
        for key in ("prompt", "negative_prompt"):
            _refused(c, request_json(tl, operation="generate", track=0, range=[200, 210], **{key: "p" * 101}), 422,
                     "too_large", f"{key} is 101 characters", "allows 100", "setting max_prompt_chars")
        assert c.get("/v1/jobs").json()["jobs"] == []
        assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == ["no-config.toml"]
        # at the limits: accepted
        ok = c.post("/v1/jobs", content=request_json(no_handles, operation="extend", track=0, frame=70,
                                                     side="tail", frames=30, prompt="p" * 100), headers=JSON)
        assert ok.status_code == 202, ok.text


def test_a_job_over_the_memory_setting_is_refused_before_it_starts(tmp_path, media):
    root, carphone, bikes = media
    tl = two_clip_timeline(bikes, BIKES[1], clip_frames=40, gap=10, available=250)
    outpaint = request_json(tl, operation="outpaint", track=0, frame=5, canvas=[1280, 720])
    with ServerProcess(tmp_path / "out", "--media-root", str(root),
                       env={"SHOTFORGE_MAX_JOB_MEMORY_GB": "0.05"}) as srv, srv.client() as c:
        message = _refused(c, outpaint, 422, "not_enough_memory")
        assert re.fullmatch(r"this outpaint needs about (\d+) MB of memory \(1280x720, 40 frames\); the server "
                            r"allows 50 MB \(setting max_job_memory_gb\)", message), message
        assert 90 <= int(re.search(r"\d+", message).group()) <= 200  # ~104 bytes a canvas pixel
        small = two_clip_timeline(carphone, CARPHONE[1])
        r = c.post("/v1/jobs", content=request_json(small, operation="extend", track=0, frame=10, side="tail",
                                                    frames=12), headers=JSON)
        assert r.status_code == 202, r.text  # 176x144 frames fit
        assert len(c.get("/v1/jobs").json()["jobs"]) == 1


def test_the_output_folders_free_disk_is_checked(tmp_path, media):
    root, carphone, _ = media
    out = tmp_path / "out"
    out.mkdir()
    free_gb = shutil.disk_usage(out).free / 1e9
    tl = two_clip_timeline(carphone, CARPHONE[1], clip_frames=55, gap=10)  # B ends with its file: no handles
    with ServerProcess(out, "--media-root", str(root), env={"SHOTFORGE_MIN_FREE_DISK_GB": str(free_gb + 50)}) as srv, \
            srv.client() as c:
        _refused(c, request_json(tl, operation="extend", track=0, frame=70, side="tail", frames=12), 507,
                 "not_enough_disk", "this extend writes about", "(176x144, 12 frames)", f"{out} has ",
                 "GB free", "setting min_free_disk_gb")
        assert c.get("/v1/jobs").json()["jobs"] == []


def test_the_estimate_matches_the_measured_8k_outpaint(tmp_path, media):
    """The estimate must not be below what an 8192x8192 outpaint was measured to use (bench/RESULTS.md)."""
    _, carphone, _ = media
    timeline, request = parse_request_json(request_json(two_clip_timeline(carphone, CARPHONE[1]),
                                                        operation="outpaint", track=0, frame=5,
                                                        canvas=[8192, 8192]), "request")
    estimate = render.estimate_job(render.plan_job(timeline, request))
    assert 7.0e9 <= estimate.memory < 8.5e9, estimate
    assert estimate.shape == "8192x8192, 40 frames"
    extend = render.plan_job(*parse_request_json(request_json(two_clip_timeline(carphone, CARPHONE[1],
                                                                                clip_frames=55, gap=10),
                                                              operation="extend", track=0, frame=70,
                                                              side="tail", frames=1000), "request"))
    per_frame = 176 * 144 * 2.5  # ProRes at the rate a long extension of this clip wrote
    assert render.estimate_job(extend).disk >= 1000 * per_frame
    assert render.estimate_job(extend, "h264").disk < render.estimate_job(extend).disk
