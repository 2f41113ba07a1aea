"""End to end on the classical engine: a clip under a dissolve, inpainted and outpainted; the made
media holds every frame the dissolve shows of the clip, placed above over all of them or, with
overwrite, over the clip's cut from media that holds the dissolve's handles. A real Premiere export
(30 fps) and a built 23.976 timeline whose dissolve asks for more handles than the media has."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from otio_tools import request_from_timeline
from otio_tools.timing import frame_to_timecode, timecode_to_frame, to_frame
from server import media_io
from server.render import plan_job, run_job
from tests.shared_data import INTERCHANGE, shared
from tests.test_inpaint_render import box, recording_engines

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
SIZE = (64, 48)
REGION = [8, 8, 12, 10]
NTSC_FILM = Fraction(24000, 1001)


def write_clip(path: Path, rate: Fraction, frames: int, timecode: str) -> list[np.ndarray]:
    """A small ProRes clip whose every frame differs (a gradient moving with the frame number); its
    frames as a job reads them (10-bit: at 16 bits)."""
    y, x = np.indices((SIZE[1], SIZE[0]))
    with media_io.MediaWriter(str(path), width=SIZE[0], height=SIZE[1], rate=rate, start_timecode=timecode) as out:
        for k in range(frames):
            out.write(np.stack([(x * 3 + y * 2 + k * 5) % 256, (np.full_like(x, 2 * k)) % 256,
                                (x * 7 - y * 3 + k) % 256], axis=2).astype(np.uint8))
    return list(media_io.read_frames(str(path), range(frames), np.uint16))


def assert_kept_outside_the_region(made: list[np.ndarray], source: list[np.ndarray], first: int) -> None:
    """Each made frame is the source's frame ``first + k`` outside the region (and changed inside)."""
    inside = box(REGION, SIZE)
    for k, frame in enumerate(made):
        assert np.array_equal(frame[~inside], source[first + k][~inside]), k
        assert not np.array_equal(frame[inside], source[first + k][inside]), k


def test_an_inpaint_under_a_premiere_dissolve_covers_it_above_the_cut(tmp_path):
    """premiere_example.xml, V4: 'sc01_master_layerA_sh030_temp.mov' dissolves (12 frames before the
    cut at 1164, 13 after) into 'sc01_sh010_anim.mov' (media 18-99 at record 1164-1245), which
    therefore shows from record frame 1152, media frame 6."""
    source = write_clip(tmp_path / "sh010.mov", Fraction(30), 100, "00:00:00:00")
    timeline = otio.adapters.read_from_file(str(shared(INTERCHANGE / "premiere_example.xml")))
    for clip in timeline.find_clips():
        if getattr(clip.media_reference, "target_url", "").endswith("sc01_sh010_anim.mov"):
            clip.media_reference = otio.schema.ExternalReference(
                (tmp_path / "sh010.mov").as_uri(), available_range=TR(RT(0, 30), RT(100, 30)))
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "engine": "classical", "track": 3,
                                      "frame": 1200, "region": REGION}
    made: list[np.ndarray] = []
    outcome = run_job(plan_job(timeline, request_from_timeline(timeline)), tmp_path / "out",
                      engines=recording_engines(made))

    assert outcome.placements == [{"media": outcome.media[0], "track": 4, "record_frame": 1152, "source_in": 0,
                                   "frames": 12 + 82}]
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.rate, info.width, info.height, info.start_timecode) == \
           (94, 30, *SIZE, "00:00:00:06")
    assert len(made) == 94
    assert_kept_outside_the_region(made, source, 6)
    [note] = outcome.notes
    assert "'Cross Dissolve' at the cut at frame 1164" in note and "record frames 1152-1163" in note
    assert json.loads((tmp_path / "out" / "job.json").read_text())["notes"] == outcome.notes

    result = otio.adapters.read_from_file(outcome.otio)
    assert otio.adapters.write_to_string(result.video_tracks()[3]) == \
           otio.adapters.write_to_string(timeline.video_tracks()[3])  # the editor's dissolve untouched
    above = result.video_tracks()[4]
    new = above.child_at_time(RT(1152, 30))
    assert above.range_of_child(new) == TR(RT(1152, 30), RT(94, 30))


def dissolves(media: Path, rate: Fraction) -> otio.schema.Timeline:
    """V1: P (record 0-19) | dissolve 3/2 | A (media 10-33 of a 36-frame file, record 20-43) |
    dissolve 4/5 | B. A shows 3 frames before its cut and would show 5 after: its file has 2."""
    r = float(rate)

    def clip(name, first, frames, path):
        return otio.schema.Clip(name=name, source_range=TR(RT(first, r), RT(frames, r)),
                                media_reference=otio.schema.ExternalReference(
                                    path.as_uri(), available_range=TR(RT(0, r), RT(36 if name == "A" else 400, r))))

    timeline = otio.schema.Timeline(name="dissolves")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    track.extend([clip("P", 100, 20, media.with_name("P.mov")),
                  otio.schema.Transition(in_offset=RT(3, r), out_offset=RT(2, r), name="Cross Dissolve"),
                  clip("A", 10, 24, media),
                  otio.schema.Transition(in_offset=RT(4, r), out_offset=RT(5, r), name="Cross Dissolve"),
                  clip("B", 100, 30, media.with_name("B.mov"))])
    return timeline


def test_an_overwrite_under_dissolves_places_the_cut_from_media_with_the_handles_there_are(tmp_path):
    source = write_clip(tmp_path / "A.mov", NTSC_FILM, 36, "01:00:00:00")
    timeline = dissolves(tmp_path / "A.mov", NTSC_FILM)
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "engine": "classical", "frame": 30,
                                      "region": REGION, "placement": "overwrite"}
    made: list[np.ndarray] = []
    outcome = run_job(plan_job(timeline, request_from_timeline(timeline)), tmp_path / "out",
                      engines=recording_engines(made))

    # media frames 7-35: 3 before the cut, its 24, the 2 after it that exist
    assert outcome.placements == [{"media": outcome.media[0], "track": 0, "record_frame": 20, "source_in": 3,
                                   "frames": 24}]
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.rate) == (29, NTSC_FILM)
    assert info.start_timecode == frame_to_timecode(timecode_to_frame("01:00:00:00", NTSC_FILM) + 7, NTSC_FILM)
    assert len(made) == 29
    assert_kept_outside_the_region(made, source, 7)
    head, tail, kept = outcome.notes  # the plan's two, then what result.otio did to the dissolve after A
    assert "media frames 7-9" in head and "has only 2 of them" in tail and "media frames 34-35" in tail
    assert kept.startswith("result.otio keeps the transition 'Cross Dissolve' at the cut at frame 44") and \
        "4 frame(s) before the cut and 2 after instead of 4 and 5" in kept

    track = otio.adapters.read_from_file(outcome.otio).video_tracks()[0]
    # result.otio keeps both dissolves on their cuts: the one after A has only the 2 frames its media holds
    assert [(c.name, to_frame(c.in_offset, NTSC_FILM), to_frame(c.out_offset, NTSC_FILM))
            if isinstance(c, otio.schema.Transition) else c.name for c in track] == \
        ["P", ("Cross Dissolve", 3, 2), "A (ShotForge inpaint)", ("Cross Dissolve", 4, 2), "B"]
    new = track[2]
    assert track.range_of_child(new) == TR(RT(20, float(NTSC_FILM)), RT(24, float(NTSC_FILM)))
    available = new.media_reference.available_range
    assert to_frame(new.source_range.start_time - available.start_time, NTSC_FILM) == 3
    assert to_frame(available.duration, NTSC_FILM) == 29


def test_an_outpaint_under_dissolves_covers_what_they_show_of_the_clip(tmp_path):
    write_clip(tmp_path / "A.mov", NTSC_FILM, 36, "01:00:00:00")
    timeline = dissolves(tmp_path / "A.mov", NTSC_FILM)
    timeline.metadata["shotforge"] = {"version": 1, "operation": "outpaint", "engine": "classical", "frame": 30,
                                      "canvas": [48, 64]}
    outcome = run_job(plan_job(timeline, request_from_timeline(timeline)), tmp_path / "out")
    assert outcome.placements == [{"media": outcome.media[0], "track": 1, "record_frame": 17, "source_in": 0,
                                   "frames": 29}]
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.width, info.height) == (29, 48, 64)
    assert len(outcome.notes) == 2 and "ends with a cut at frame 46" in outcome.notes[1]


@pytest.mark.parametrize("placement", ["auto", "overwrite"])
def test_the_take_of_a_result_under_a_dissolve_fills_the_slot_it_was_placed_in(tmp_path, placement):
    """A take's slot is the placed range, so a new take of it (conform, re-render) lands in the same place."""
    from otio_tools.takes import take_from_metadata

    write_clip(tmp_path / "A.mov", NTSC_FILM, 36, "01:00:00:00")
    timeline = dissolves(tmp_path / "A.mov", NTSC_FILM)
    timeline.metadata["shotforge"] = {"version": 1, "operation": "outpaint", "engine": "classical", "frame": 30,
                                      "canvas": [48, 64], "placement": placement}
    job_plan = plan_job(timeline, request_from_timeline(timeline))
    outcome = run_job(job_plan, tmp_path / "out")
    [placed] = outcome.placements
    result = otio.adapters.read_from_file(outcome.otio)
    new = next(c for c in result.find_clips() if c.name.endswith("(ShotForge outpaint)"))
    slot = take_from_metadata(new.metadata, "the new clip").slot
    assert (slot.track, slot.record_frame, slot.frames) == (placed["track"], placed["record_frame"], placed["frames"])
