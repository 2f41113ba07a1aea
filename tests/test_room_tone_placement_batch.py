"""A batch's result.otio carries every item's sound: room tone under made frames and handles'
own sound, each on its item's audio track when that is still free there, else on the lowest free
audio track above, else on a new one, with ``audio_track`` in job.json saying where it went."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import opentimelineio as otio

from otio_tools.batch import combine
from otio_tools.timeline import track_items
from tests.shared_data import VIDEO, shared
from tests.test_batch import batch_process
from tests.test_placement_audio import edit_with_sound

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def marked_up(chaplin: Path) -> otio.schema.Timeline:
    """V1: A 0-19 (chaplin 100-119, marked 'sf extend tail 6') | gap 20-29 | B 30-49 (chaplin's last
    20 frames, marked 'sf extend head 4' and 'sf extend tail 5'); A1: their linked sound; A2: music 18-25."""
    timeline, _ = edit_with_sound(chaplin, [(0, 100, 20), (30, 221, 20)], music=(18, 26), operation="fill_gap",
                                  track=0, frame=25)
    del timeline.metadata["shotforge"]
    a, b = timeline.video_tracks()[0][0], timeline.video_tracks()[0][2]
    a.markers.append(otio.schema.Marker(name="sf extend tail 6", marked_range=TR(RT(110, 25), RT(0, 25))))
    b.markers.append(otio.schema.Marker(name="sf extend head 4", marked_range=TR(RT(225, 25), RT(0, 25))))
    b.markers.append(otio.schema.Marker(name="sf extend tail 5", marked_range=TR(RT(230, 25), RT(0, 25))))
    return timeline


def made(result: otio.schema.Timeline, kind: str) -> list[tuple]:
    """(track, record start, record end, media file name, source range) of each clip ShotForge put on
    the ``kind`` tracks."""
    tracks = result.video_tracks() if kind == "video" else result.audio_tracks()
    return sorted((t, i.start, i.end, Path(i.item.media_reference.target_url).name, i.item.source_range)
                  for t, track in enumerate(tracks) for i in track_items(track, 25)
                  if i.is_clip and "shotforge" in i.item.metadata)


def test_a_batch_puts_each_items_sound_in_free_space_beside_its_picture(tmp_path):
    chaplin = Path(shutil.copy(shared(VIDEO / "chaplin.mp4"), tmp_path / "chaplin.mp4"))
    path = tmp_path / "marked.otio"
    otio.adapters.write_to_file(marked_up(chaplin), str(path))
    out = tmp_path / "batch"
    done = batch_process(path, out, "--fill-gaps-up-to", "10")
    _, stderr = done.communicate(timeout=300)
    assert done.returncode == 0, stderr
    job = json.loads((out / "job.json").read_text())
    # each item alone chose V1 and A1 (free on the timeline it was made on); together: the gap fill
    # first, A's tail handles above it (A2's music is there too: a new A3), B's head handles on V2
    # and A2 (both free at 26-29), B's made tail on V1 and A1 past their ends
    assert sorted((p["record_frame"], p["frames"], p["track"], p["audio_track"]) for p in job["placements"]) == [
        (20, 6, 1, 2), (20, 10, 0, 0), (26, 4, 1, 1), (50, 5, 0, 0)]
    result = otio.adapters.read_from_file(str(out / "result.otio"))
    pictures, sounds = made(result, "video"), made(result, "audio")
    assert [(t, s, e) for t, s, e, _, _ in sounds] == [(0, 20, 30), (0, 50, 55), (1, 26, 30), (2, 20, 26)]
    # every sound clip is its picture's media, with the same record frames and source range
    by_range = {(s, e): (name, source) for _, s, e, name, source in pictures}
    assert all(by_range[(s, e)] == (name, source) for _, s, e, name, source in sounds)
    # the handles' sound is their own file's, the made frames' sound their new media's room tone
    assert [name == "chaplin.mp4" for _, s, _, name, _ in sorted(sounds, key=lambda x: x[1])] == [
        False, True, True, False]
    assert len(result.audio_tracks()) == 3
    # what the editor had on the audio tracks is as it was
    kept = [[(i.start, i.end, i.item.name) for i in track_items(track, 25) if i.is_clip
             and "shotforge" not in i.item.metadata] for track in result.audio_tracks()]
    assert kept == [[(0, 20, "shot0"), (30, 50, "shot30")], [(18, 26, "music")], []]


def test_combine_keeps_placements_without_sound_off_the_audio_tracks():
    clip = otio.schema.Clip(name="new", source_range=TR(RT(0, 24), RT(10, 24)),
                            media_reference=otio.schema.ExternalReference("file:///out/new.mov"))
    v1 = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    v1.append(otio.schema.Gap(source_range=TR(RT(0, 24), RT(40, 24))))
    timeline = otio.schema.Timeline(tracks=[v1], global_start_time=RT(0, 24))
    placement = {"media": "/out/new.mov", "track": 0, "record_frame": 5, "source_in": 0, "frames": 10}
    assert combine(timeline, [(clip, placement)]) == [placement]
    assert timeline.audio_tracks() == []
    # with sound on an audio track the timeline does not have yet: a new one
    (placed,) = combine(timeline, [(clip, {**placement, "audio_track": 0})])
    assert (placed["track"], placed["audio_track"]) == (1, 0)
    assert [(i.start, i.end) for i in track_items(timeline.audio_tracks()[0], 24) if i.is_clip] == [(5, 15)]
