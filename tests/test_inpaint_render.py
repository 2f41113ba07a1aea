"""Inpaint end to end on a real clip: the placed range made again with only the region (or the
matte's white) replaced, placed above the clip, spliced into result.otio, signed and recorded as a
take whose recipe names what was replaced; through run_job, the HTTP server and `shotforge render`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import c2pa
import cv2
import numpy as np
import opentimelineio as otio
import pytest

from otio_tools import RequestError, parse_request_json, request_from_timeline
from otio_tools.takes import rerender_request, take_from_metadata
from server import media_io, provenance
from server.engines import load_engine
from server.engines.base import Canceled
from server.paths import MediaPolicy
from server.render import estimate_job, plan_job, run_job
from tests.serverutil import CARPHONE, ThreadServer, copy_media, request_json, wait_job
from tests.test_media_io_reader import PROC_FD, needs_proc, open_files

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
REPO = Path(__file__).resolve().parents[1]
RATE = Fraction(30000, 1001)
REGION, REGION_END = [40, 30, 30, 20], [100, 80, 30, 20]


def timeline_of(media: Path) -> otio.schema.Timeline:
    """V1: a 5-frame gap, then clip 'A' showing media frames 20-49 at record frames 5-34."""
    timeline = otio.schema.Timeline(name="inpaint test")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    rate = float(RATE)
    track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(5, rate))))
    track.append(otio.schema.Clip(
        name="A", source_range=TR(RT(20, rate), RT(30, rate)),
        media_reference=otio.schema.ExternalReference(media.as_uri(), available_range=TR(RT(0, rate),
                                                                                         RT(120, rate)))))
    return timeline


def ask(media: Path, **shotforge):
    timeline = timeline_of(media)
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "frame": 12, "engine": "classical",
                                      **shotforge}
    return timeline, request_from_timeline(timeline)


def recording_engines(made: list):
    """An engine builder that records the frames the engine yields (before encoding)."""
    def build(name, **options):
        engine = load_engine(name, **options)
        inner = engine.inpaint

        def inpaint(shot, job):
            for frame in inner(shot, job):
                made.append(frame.copy())
                yield frame

        engine.inpaint = inpaint
        return engine
    return build


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return copy_media(tmp_path / "media", CARPHONE[0])


def box(region, size=(176, 144)) -> np.ndarray:
    x, y, w, h = region
    mask = np.zeros((size[1], size[0]), bool)
    mask[y:y + h, x:x + w] = True
    return mask


def source_frames(clip: Path) -> list[np.ndarray]:
    return list(media_io.read_frames(str(clip), range(20, 50), np.uint8))


def manifest(path: str) -> dict:
    with open(path, "rb") as stream:
        store = json.loads(c2pa.Reader("video/quicktime", stream).json())
    return store["manifests"][store["active_manifest"]]


def test_a_moving_region_is_replaced_and_the_rest_kept_and_placed_above_the_clip(clip, tmp_path):
    timeline, request = ask(clip, region=REGION, region_end=REGION_END)
    job_plan = plan_job(timeline, request)
    made: list[np.ndarray] = []
    stages = []
    outcome = run_job(job_plan, tmp_path / "out", engines=recording_engines(made),
                      on_progress=lambda fraction, stage: stages.append((fraction, stage)))

    assert outcome.placements == [{"media": outcome.media[0], "track": 1, "record_frame": 5, "source_in": 0,
                                   "frames": 30}]  # no audio_track: the clip's own sound stays as it is
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.rate, info.width, info.height) == (30, RATE, 176, 144)
    assert info.start_timecode == "00:00:00:20"  # the clip's in point: media frame 20
    assert [f for f, _ in stages] == sorted(f for f, _ in stages) and stages[-1] == (1.0, "done")

    # The engine's frames: every pixel outside the moving region exactly the source's; inside, changed.
    source = source_frames(clip)
    regions = [[int(a + (b - a) * Fraction(k, 29) + Fraction(1, 2)) for a, b in zip(REGION, REGION_END)]
               for k in range(30)]
    assert len(made) == 30
    for k, (frame, real) in enumerate(zip(made, source)):
        inside = box(regions[k])
        assert np.array_equal(frame[~inside], real[~inside]), k
        assert not np.array_equal(frame[inside], real[inside]), k
    # The file is ProRes (lossy, in 8x8 blocks): away from the region it decodes as the source within an encode's error.
    written = list(media_io.read_frames(outcome.media[0], range(30), np.uint8))
    for k, (frame, real) in enumerate(zip(written, source)):
        x, y, w, h = regions[k]
        away = ~box([max(x - 8, 0), max(y - 8, 0), w + 16, h + 16])
        assert np.abs(frame[away].astype(int) - real[away]).mean() < 1.5, k

    result = otio.adapters.read_from_file(outcome.otio)
    assert otio.adapters.write_to_string(result.video_tracks()[0]) == \
           otio.adapters.write_to_string(timeline.video_tracks()[0])  # the original clip untouched
    above = result.video_tracks()[1]
    new = above.child_at_time(RT(5, float(RATE)))
    assert new.media_reference.target_url == Path(outcome.media[0]).as_uri()
    assert above.range_of_child(new) == TR(RT(5, float(RATE)), RT(30, float(RATE)))
    take = take_from_metadata(new.metadata, "the new clip")
    assert take.operation == "inpaint" and take.inpaint == {"region": REGION, "region_end": REGION_END}
    assert (take.slot.track, take.slot.record_frame, take.slot.frames) == (1, 5, 30)
    assert json.loads((tmp_path / "out" / "job.json").read_text())["placements"] == outcome.placements

    with av.open(outcome.media[0]) as container:
        assert [stream.type for stream in container.streams if stream.type != "data"] == ["video"]  # no sound
    credentials = manifest(outcome.media[0])
    action = next(a for a in credentials["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"][0]
    assert action["digitalSourceType"] == provenance.COMPOSITE_SYNTHETIC  # real pixels and a classical fill
    assert [(i["title"], i["relationship"]) for i in credentials["ingredients"]] == [(clip.name, "componentOf")]


def test_an_inpaint_is_a_composite_of_the_real_shot_and_what_the_engine_made():
    classical = provenance.digital_source_type(learned=False, operation="inpaint", made_frames=30, copied_frames=0)
    diffusion = provenance.digital_source_type(learned=True, operation="inpaint", made_frames=30, copied_frames=0)
    assert classical == "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"
    assert diffusion == "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"


def test_a_still_matte_with_overwrite_replaces_the_clip_and_a_rerender_needs_the_same_matte(clip, tmp_path):
    matte = tmp_path / "media" / "boom.png"
    picture = np.zeros((72, 88), np.uint8)  # half the clip's size, white where the boom is
    picture[5:15, 20:60] = 255
    cv2.imwrite(str(matte), picture)
    timeline, request = ask(clip, mask=str(matte), placement="overwrite", prompt="")
    made: list[np.ndarray] = []
    outcome = run_job(plan_job(timeline, request), tmp_path / "out", engines=recording_engines(made))

    assert outcome.placements == [{"media": outcome.media[0], "track": 0, "record_frame": 5, "source_in": 0,
                                   "frames": 30}]
    inside = box((40, 10, 80, 20))  # the matte scaled to the clip's picture
    for frame, real in zip(made, source_frames(clip)):
        assert np.array_equal(frame[~inside], real[~inside])
    result = otio.adapters.read_from_file(outcome.otio)
    track = result.video_tracks()[0]
    assert [type(c).__name__ for c in track] == ["Gap", "Clip"] and track[1].name == "A (ShotForge inpaint)"
    assert track.range_of_child(track[1]) == TR(RT(5, float(RATE)), RT(30, float(RATE)))
    take = take_from_metadata(track[1].metadata)
    assert take.inpaint == {"mask": str(matte.resolve()), "mask_sha256": provenance.file_sha256(matte)}
    ingredients = {i["title"]: i["relationship"] for i in manifest(outcome.media[0])["ingredients"]}
    assert ingredients == {clip.name: "componentOf", "boom.png": "inputTo"}

    # A new take of the same slot: the same matte is accepted, a changed one refused by name.
    again = rerender_request(take, {"seed": 3})
    assert json.loads(again)["metadata"]["shotforge"]["mask_sha256"] == take.inpaint["mask_sha256"]
    queued = plan_job(*parse_request_json(again))
    picture[20:30, 20:60] = 255
    cv2.imwrite(str(matte), picture)
    with pytest.raises(RequestError) as caught:
        plan_job(*parse_request_json(again))
    assert caught.value.code == "matte_changed" and str(matte.resolve()) in caught.value.message
    with pytest.raises(RequestError) as caught:  # changed while the new take waited in the queue
        run_job(queued, tmp_path / "again")
    assert caught.value.code == "matte_changed" and not (tmp_path / "again").exists()
    with pytest.raises(RequestError) as caught:
        rerender_request(take, {"region": [0, 0, 8, 8]})
    assert caught.value.message.startswith("region cannot be changed by a re-render")


@pytest.mark.parametrize("name", ["boom.jpg", "boom.mov", "boom"])
def test_a_matte_named_as_another_kind_is_signed_as_what_its_bytes_are(clip, tmp_path, name):
    matte = tmp_path / "media" / name  # a PNG, whatever its name says
    matte.write_bytes(cv2.imencode(".png", np.pad(np.full((20, 80), 255, np.uint8), ((10, 114), (40, 56))))[1])
    timeline, request = ask(clip, mask=str(matte))
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    formats = {i["title"]: i["format"] for i in manifest(outcome.media[0])["ingredients"]}
    assert formats == {clip.name: "video/mp4", name: "image/png"}


def test_a_matte_outside_the_media_roots_or_missing_is_refused_before_anything_is_written(clip, tmp_path):
    outside = tmp_path / "elsewhere" / "matte.png"
    outside.parent.mkdir()
    cv2.imwrite(str(outside), np.full((144, 176), 255, np.uint8))
    timeline, request = ask(clip, mask=str(outside))
    locate = MediaPolicy([tmp_path / "media"]).locator()
    with pytest.raises(RequestError) as caught:
        plan_job(timeline, request, locate_media=locate)
    assert caught.value.code == "media_outside_roots"
    assert caught.value.message.startswith("the matte (metadata.shotforge.mask): media ")
    timeline, request = ask(clip, mask=str(tmp_path / "media" / "none.png"))
    with pytest.raises(RequestError) as caught:
        plan_job(timeline, request, locate_media=locate)
    assert caught.value.code == "media_missing" and "none.png" in caught.value.message


def test_an_empty_video_matte_fails_the_job_and_leaves_nothing(clip, tmp_path):
    matte = tmp_path / "media" / "matte.mov"
    with media_io.MediaWriter(str(matte), width=176, height=144, rate=RATE) as writer:
        for _ in range(30):
            writer.write(np.zeros((144, 176, 3), np.uint8))
    timeline, request = ask(clip, mask=str(matte))
    job_plan = plan_job(timeline, request)  # a video matte is checked frame by frame when rendered
    with pytest.raises(RequestError) as caught:
        run_job(job_plan, tmp_path / "out")
    assert caught.value.code == "matte_empty" and str(matte) in caught.value.message
    assert not (tmp_path / "out").exists()
    if PROC_FD.is_dir():  # the refused matte is closed, though the error (its traceback) is still held
        assert open_files(matte) == 0


def test_cancel_leaves_nothing(clip, tmp_path):
    timeline, request = ask(clip, region=REGION)
    cancel = threading.Event()

    def progress(fraction, stage):
        if fraction > 0.3:
            cancel.set()

    with pytest.raises(Canceled):
        run_job(plan_job(timeline, request), tmp_path / "out", on_progress=progress, cancel_event=cancel,
                engines=recording_engines([]))
    assert not (tmp_path / "out").exists()
    if PROC_FD.is_dir():  # the shot is closed when the job stops, though the Canceled (its traceback) is held
        assert open_files(clip) == 0


@needs_proc
def test_a_write_failing_mid_shot_closes_the_shot_and_leaves_nothing(clip, tmp_path, monkeypatch):
    write = media_io.MediaWriter.write

    def failing(writer, frame):
        if writer.frames_written == 3:
            raise media_io.MediaError("encode_failed", f"cannot encode frame 3 of {writer.path}: disk full")
        write(writer, frame)

    monkeypatch.setattr(media_io.MediaWriter, "write", failing)
    timeline, request = ask(clip, region=REGION)
    with pytest.raises(media_io.MediaError) as caught:
        run_job(plan_job(timeline, request), tmp_path / "out")
    assert "disk full" in caught.value.message and not (tmp_path / "out").exists()
    assert open_files(clip) == 0  # the engine, stopped between two frames, let go of the shot


@pytest.mark.parametrize("area", [{"region": REGION, "region_end": REGION_END}, {"region": [0, 0, 176, 144]}])
def test_the_disk_estimate_counts_what_the_classical_engine_puts_aside(clip, tmp_path, monkeypatch, area):
    from server.engines.classical import propagate

    spilled, folders = [], []
    put = propagate.Spill.put
    monkeypatch.setattr(propagate.Spill, "put", lambda spill, key, *arrays: (
        spilled.append(sum(a.nbytes for a in arrays)), folders.append(spill.folder), put(spill, key, *arrays)))
    timeline, request = ask(clip, **area)
    job_plan = plan_job(timeline, request)
    run_job(job_plan, tmp_path / "out")
    aside = estimate_job(job_plan).disk - estimate_job(replace(job_plan, engine="diffusers")).disk
    assert sum(spilled) <= aside <= 2 * sum(spilled)
    # put aside on the output's disk, which the estimate is checked against, and gone afterwards
    assert set(folders) == {str((tmp_path / "out").absolute())}
    assert not [path.name for path in (tmp_path / "out").iterdir() if path.name.startswith("tmp")]


def test_the_estimate_is_bounded_by_the_shot_and_a_diffusers_inpaint_without_a_model_is_refused(clip, tmp_path,
                                                                                               monkeypatch):
    timeline, request = ask(clip, region=REGION)
    job_plan = plan_job(timeline, request)
    estimate = estimate_job(job_plan)
    shown = len(job_plan.plan.context)  # 20 head handles, 30 placed, 60 tail handles
    assert shown == 110 and estimate.operation == "inpaint" and estimate.shape == "176x144, 30 frames"
    frame = 176 * 144 * 3
    assert shown * frame < estimate.memory < shown * frame * 2 + 176 * 144 * 200

    monkeypatch.setenv("SHOTFORGE_MODELS", str(tmp_path))  # a models folder with no model in it
    timeline, request = ask(clip, region=REGION, engine="diffusers")
    with pytest.raises(RequestError) as caught:
        plan_job(timeline, request)
    assert caught.value.code == "engine_unavailable"
    assert caught.value.message.startswith("the diffusers engine cannot do this inpaint: ")


def test_an_inpaint_posted_to_the_server_is_rendered_and_placed(clip, tmp_path):
    from server.settings import load_settings

    (tmp_path / "empty.toml").write_text("")
    settings = load_settings(tmp_path / "empty.toml", output=str(tmp_path / "out"),
                             media_roots=[str(tmp_path / "media")])
    body = request_json(timeline_of(clip), operation="inpaint", track=0, frame=12, region=REGION)
    with ThreadServer(settings) as srv, srv.client() as client:
        posted = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
        assert posted.status_code in (200, 201, 202), posted.text
        job = wait_job(client, posted.json()["id"])
        assert job["state"] == "done", job
        [placed] = job["result"]["placements"]
        assert (placed["track"], placed["record_frame"], placed["source_in"], placed["frames"]) == (1, 5, 0, 30)
        assert media_io.probe(placed["media"]).frames == 30
        [take_id] = job["result"]["takes"]
        take = client.get(f"/v1/takes/{take_id}").json()  # the take says what it replaced
        assert take["operation"] == "inpaint" and take["inpaint"] == {"region": REGION}

        bad = request_json(timeline_of(clip), operation="inpaint", track=0, frame=12, region=[170, 0, 10, 10])
        refused = client.post("/v1/jobs", content=bad, headers={"Content-Type": "application/json"})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "region_outside_picture"
        assert "which is 176x144" in refused.json()["error"]["message"]


def test_shotforge_render_makes_an_inpaint(clip, tmp_path):
    timeline, _ = ask(clip, region=REGION)
    request_path = tmp_path / "inpaint.otio"
    otio.adapters.write_to_file(timeline, str(request_path))
    done = subprocess.run([sys.executable, "-m", "server.cli", "render", str(request_path), "--out",
                           str(tmp_path / "render")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    job = json.loads((tmp_path / "render" / "job.json").read_text())
    assert job["operation"] == "inpaint" and job["start_timecode"] == "00:00:00:20"
    assert [(p["track"], p["record_frame"], p["frames"]) for p in job["placements"]] == [(1, 5, 30)]

    timeline.metadata["shotforge"]["region"] = [0, 0, 0, 5]
    otio.adapters.write_to_file(timeline, str(request_path))
    failed = subprocess.run([sys.executable, "-m", "server.cli", "render", str(request_path), "--out",
                             str(tmp_path / "bad")], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert failed.returncode == 2 and "has zero size" in failed.stderr and not (tmp_path / "bad").exists()
