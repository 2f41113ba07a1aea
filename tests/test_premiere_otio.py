"""The Premiere panel's request builder (plugins/premiere_cep/js/sf_core.js, run in node) emits
OTIO JSON that opentimelineio reads, with every clip and gap frame-exact against the sequence's
tick counts (254016000000 ticks per second), at 23.976, 25 and 29.97 with non-zero zero points."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.request import parse_request_json

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "premiere_cep"
SEQUENCES = PLUGIN / "tests" / "fixtures" / "sequences"
TPS = 254016000000
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (needed to run the CEP panel's JavaScript)")


def build(sequence: str | Path, state: dict, options: dict) -> str:
    proc = subprocess.run(
        [NODE, str(PLUGIN / "tests" / "tools" / "build_request.js"), str(sequence), json.dumps(state), json.dumps(options)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fixture(name: str) -> dict:
    return json.loads((SEQUENCES / f"{name}.json").read_text())


def expected_items(track: dict, timebase: int) -> list[tuple[str, int, int, int | None]]:
    """(kind, record start, record end, source in) in frames, straight from the ticks."""
    items, cursor = [], 0
    for clip in sorted(track["clips"], key=lambda c: int(c["start"])):
        start, end = int(clip["start"]), int(clip["end"])
        assert start % timebase == 0 and end % timebase == 0
        start, end = start // timebase, end // timebase
        if start > cursor:
            items.append(("gap", cursor, start, None))
        items.append(("clip", start, end, int(clip["inPoint"]) // timebase))
        cursor = end
    return items


RATES = {"example_23976": Fraction(24000, 1001), "generators_23976": Fraction(24000, 1001),
         "example_25": Fraction(25), "edl_25": Fraction(25), "example_2997": Fraction(30000, 1001)}


@pytest.mark.parametrize("name", sorted(RATES))
def test_request_loads_and_every_item_is_frame_exact(name):
    seq = fixture(name)
    timebase = int(seq["timebase"])
    rate = RATES[name]
    assert Fraction(TPS, timebase) == rate
    zero = int(seq["zeroPoint"]) // timebase
    assert zero > 0 and int(seq["zeroPoint"]) % timebase == 0

    # Operation-neutral request (generate over an In/Out range) so every fixture builds.
    text = build(name, {"inFrame": 40, "outFrame": 88, "playhead": 41},
                 {"operation": "generate", "track": "auto", "prompt": "test", "canvas": [1920, 1080]})
    timeline = otio.adapters.read_from_string(text, "otio_json")
    assert isinstance(timeline, otio.schema.Timeline)

    gst = timeline.global_start_time
    assert gst.rate == pytest.approx(float(rate), abs=1e-12)
    assert gst.value == zero

    tracks = timeline.video_tracks()
    assert len(tracks) == len(seq["videoTracks"])
    for track, want_track in zip(tracks, seq["videoTracks"]):
        want = expected_items(want_track, timebase)
        got = []
        for child in track:
            rng = track.range_of_child(child)
            start = rng.start_time.value * Fraction(rate) / Fraction(rng.start_time.rate)
            end = rng.end_time_exclusive().value * Fraction(rate) / Fraction(rng.start_time.rate)
            # Frame-exact: the float rate round-trips to a whole frame count within 1e-9.
            assert abs(start - round(start)) < Fraction(1, 10**9) and abs(end - round(end)) < Fraction(1, 10**9)
            src = None
            if isinstance(child, otio.schema.Clip):
                src = child.source_range.start_time.value
                assert child.source_range.start_time.rate == pytest.approx(float(rate))
            got.append(("gap" if isinstance(child, otio.schema.Gap) else "clip", round(start), round(end), src))
        assert got == want

    # Absolute timecode of the first clip honours the zero point.
    for track, want_track in zip(tracks, seq["videoTracks"]):
        clips = list(track.find_clips())
        if clips:
            first = min(int(c["start"]) for c in want_track["clips"]) // timebase
            tr = clips[0].trimmed_range_in_parent()
            assert round(tr.start_time.value) == first
            break

    # And the project's own request validator accepts it.
    _timeline, request = parse_request_json(text)
    assert request.operation == "generate"
    assert request.range == (40, 88)


@pytest.mark.parametrize("name,state,options,check", [
    ("example_23976", {"select": [3, 1]}, {"operation": "extend", "track": "auto", "side": "tail", "frames": 48},
     {"operation": "extend", "track": 3, "frame": 1164, "side": "tail", "frames": 48}),
    ("example_25", {"playhead": 130}, {"operation": "fill_gap", "track": "auto"},
     {"operation": "fill_gap", "track": 1, "frame": 130}),
    ("example_2997", {"playhead": 200}, {"operation": "outpaint", "track": 1, "canvas": [1080, 1920]},
     {"operation": "outpaint", "track": 1, "frame": 200, "canvas": (1080, 1920), "placement": "auto"}),
])
def test_each_operation_validates(name, state, options, check):
    text = build(name, state, options)
    timeline, request = parse_request_json(text)
    for key, value in check.items():
        assert getattr(request, key) == value, key
    # The named frame really is inside the clip or gap on that track.
    track = timeline.video_tracks()[request.track]
    rate = float(timeline.global_start_time.rate)
    hit = [c for c in track if isinstance(c, (otio.schema.Clip, otio.schema.Gap))
           and track.range_of_child(c).contains(otio.opentime.RationalTime(request.frame, rate))]
    assert len(hit) == 1
    assert isinstance(hit[0], otio.schema.Gap if request.operation == "fill_gap" else otio.schema.Clip)


def test_media_urls_round_trip_to_paths():
    text = build("example_25", {"inFrame": 0, "outFrame": 10}, {"operation": "generate", "track": "auto"})
    timeline = otio.adapters.read_from_string(text, "otio_json")
    urls = {c.media_reference.target_url for c in timeline.find_clips()
            if isinstance(c.media_reference, otio.schema.ExternalReference)}
    assert "file:///D:/media/sc01_sh010_anim.mov" in urls
    from otio_tools.media import path_from_url  # noqa: PLC0415 (optional module being written alongside)
    assert path_from_url("file:///D:/media/sc01_sh010_anim.mov") == "D:/media/sc01_sh010_anim.mov"


@pytest.mark.parametrize("speed,reversed_,scalar", [(2, False, 2), (0.5, False, 0.5), (1, True, -1), (2, True, -2)])
def test_retimed_and_reversed_clips_follow_the_servers_convention(tmp_path, speed, reversed_, scalar):
    """source_range.duration = record duration, start_time = the lowest media frame of the span
    (duration x |speed| frames), LinearTimeWarp time_scalar = (reversed ? -1 : 1) * speed."""
    from otio_tools.retime import clip_speed  # noqa: PLC0415

    tpf = TPS // 25
    first, record = 100, 40
    span = int(record * speed)
    clip = {"name": "R", "start": "0", "end": str(record * tpf), "inPoint": str(first * tpf),
            "outPoint": str((first + span) * tpf), "mediaPath": "/media/r.mov", "speed": speed,
            "reversed": reversed_, "disabled": False, "selected": True}
    seq = {"name": "retime", "id": "seq-retime", "timebase": str(tpf), "zeroPoint": str(90000 * tpf),
           "width": 640, "height": 360, "playhead": "0", "videoTracks": [{"name": "Video 1", "clips": [clip]}]}
    path = tmp_path / "retime.json"
    path.write_text(json.dumps(seq))
    text = build(path, {}, {"operation": "extend", "track": "auto", "side": "tail", "frames": 6})
    timeline, request = parse_request_json(text)
    [got] = list(timeline.find_clips())
    assert got.source_range.start_time.value == first
    assert got.source_range.duration.value == record
    assert clip_speed(got, "R") == Fraction(scalar).limit_denominator(1000)
    assert got.media_reference.available_range.duration.value >= first + span
    assert request.operation == "extend" and request.placement == "auto"


def _with_sound(tmp_path) -> Path:
    """A 25 fps sequence: V1 A [0, 36) and B [60, 84); A1 an editor's music over [30, 50); A2 A's
    own sound (linked, same media) over [0, 36) and B's over [60, 84)."""
    tpf = TPS // 25
    t = lambda f: str(f * tpf)  # noqa: E731

    def clip(name, media, start, end, first=0):
        return {"name": name, "start": t(start), "end": t(end), "inPoint": t(first), "outPoint": t(first + end - start),
                "mediaPath": media, "speed": 1, "reversed": False, "disabled": False, "selected": False}

    seq = {"name": "sound", "id": "seq-sound", "timebase": str(tpf), "zeroPoint": str(90000 * tpf), "width": 640,
           "height": 360, "playhead": t(45),
           "videoTracks": [{"name": "Video 1", "clips": [clip("A", "/media/a.mov", 0, 36, 100), clip("B", "/media/b.mov", 60, 84)]}],
           "audioTracks": [{"name": "Audio 1", "clips": [clip("Music", "/media/music.wav", 30, 50)]},
                           {"name": "Audio 2", "clips": [clip("A", "/media/a.mov", 0, 36, 100), clip("B", "/media/b.mov", 60, 84)]}]}
    path = tmp_path / "sound.json"
    path.write_text(json.dumps(seq))
    return path


def test_audio_tracks_load_frame_exact_and_the_server_finds_the_shots_own_sound_track(tmp_path):
    from otio_tools.placement import source_sound_track, with_audio_tracks  # noqa: PLC0415
    from otio_tools.plan import Placement  # noqa: PLC0415

    text = build(_with_sound(tmp_path), {}, {"operation": "fill_gap", "track": "auto"})
    timeline, request = parse_request_json(text)
    assert [len(timeline.video_tracks()), len(timeline.audio_tracks())] == [1, 2]
    music, own = timeline.audio_tracks()
    assert [(type(c).__name__, c.duration().value) for c in music] == [("Gap", 30), ("Clip", 20)]
    assert [(type(c).__name__, c.duration().value) for c in own] == [("Clip", 36), ("Gap", 24), ("Clip", 24)]
    assert list(own.find_clips())[0].source_range.start_time.value == 100
    rate = Fraction(25)
    assert source_sound_track(timeline, rate, request.track, request.frame) == 1
    [piece] = with_audio_tracks(timeline, rate, [Placement("/out/g.mov", 0, 36, 0, 24)], "/out/g.mov")
    assert piece.audio_track == 1, "the gap's room tone under A's own sound, not on the music track"


@pytest.mark.parametrize("options,check", [
    ({"region": [10, 20, 64, 48]}, {"region": (10, 20, 64, 48), "region_end": None}),
    ({"region": [10, 20, 64, 48], "region_end": [90, 20, 64, 48], "prompt": "sky"}, {"region_end": (90, 20, 64, 48), "prompt": "sky"}),
    ({"mask": "/mattes/boom.mov"}, {}),
])
def test_inpaint_requests_validate(options, check):
    text = build("example_2997", {"playhead": 200}, {"operation": "inpaint", "track": 1, **options})
    _timeline, request = parse_request_json(text)
    assert (request.operation, request.track, request.frame) == ("inpaint", 1, 200)
    for key, value in check.items():
        assert getattr(request, key) == value, key
