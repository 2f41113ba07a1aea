"""Final Cut Pro's dissolves: each ``<transition>`` of a storyline read as an OTIO transition on its
cut (frames before and after it exact at the sequence rate), covered by an inpaint as OpenTimelineIO
sees it, and written back (V1 in the spine, above V1 as a secondary storyline) with the effects it
was read with; what FCPXML cannot hold here is refused by name.

On Final Cut Pro's own exports (FCPXML 1.8 at 30 fps, 1.11 at 23.976) and on projects written at
23.976, 29.97 and 59.94. The expected frames are counted here from the files' rational times."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools import request_from_timeline
from otio_tools.fcpxml import cut, read_fcpxml_string, seconds, write_fcpxml, write_fcpxml_string
from otio_tools.interchange import read_any, write_in_format
from otio_tools.media import MediaFacts
from otio_tools.plan import plan_request
from otio_tools.splice import splice_result
from otio_tools.timeline import rate_of
from otio_tools.timing import to_frame
from tests.shared_data import INTERCHANGE, shared

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
NTSC = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "59.94": Fraction(60000, 1001)}


def first_project(text: str) -> otio.schema.Timeline:
    read = read_fcpxml_string(text)
    return read if isinstance(read, otio.schema.Timeline) else next(
        item for item in read if isinstance(item, otio.schema.Timeline))


def transitions(timeline: otio.schema.Timeline) -> list[tuple]:
    """(track, record frame of the cut, name, frames before it, frames after, what it joins) of each."""
    rate = rate_of(timeline)
    found = []
    for number, track in enumerate(timeline.video_tracks(), 1):
        children = list(track)
        for index, child in enumerate(children):
            if isinstance(child, otio.schema.Transition):
                at = to_frame(track.range_of_child_at_index(index - 1).end_time_exclusive(), rate) if index else 0
                sides = tuple(children[i].name or type(children[i]).__name__ if 0 <= i < len(children) else None
                              for i in (index - 1, index + 1))
                found.append((f"V{number}", at, child.name, to_frame(child.in_offset, rate),
                              to_frame(child.out_offset, rate), sides))
    return found


def test_final_cut_pros_1_8_dissolves_read_on_their_cuts():
    """The 1.8 library export (30 fps): IMG_0715 (0-10 s) dissolves over 9.5-10.5 s into the gap at 10 s;
    the storyline in the gap at 50 s fades in over its first second, then dissolves over 9-10 s
    around the cut at 28500/3000 s between IMG_0268 and IMG_0740."""
    timeline = first_project(shared(INTERCHANGE / "fcpx_1.8_example.fcpxml").read_text())
    assert rate_of(timeline) == 30
    storyline = 50 * 30
    inside = int(seconds("28500/3000s") * 30)
    assert transitions(timeline) == [
        ("V1", 10 * 30, "Cross Dissolve", 15, 15, ("IMG_0715", "Gap")),
        ("V2", storyline, "Cross Dissolve", 0, 30, ("Gap", "IMG_0268")),
        ("V2", storyline + inside, "Cross Dissolve", 15, 15, ("IMG_0268", "IMG_0740"))]
    dissolve = timeline.video_tracks()[0][1]
    assert dissolve.transition_type == otio.schema.TransitionTypes.SMPTE_Dissolve
    # OpenTimelineIO's own view: IMG_0715 shows 15 frames past its out point, IMG_0740 15 before its in point
    assert timeline.video_tracks()[0][0].visible_range().duration == RT(300 + 15, 30)
    img_0740 = timeline.video_tracks()[1][6]
    assert img_0740.visible_range().start_time == img_0740.trimmed_range().start_time - RT(15, 30)


def test_final_cut_pros_1_11_fades_at_storyline_ends_lie_inside_their_clips():
    """The 1.11 export (23.976): a 286286/24000 s fade in at the start of the primary storyline; the
    secondary storyline at 3004 fades in over 24024/24000 s and out over its last 128128/24000 s."""
    rate = NTSC["23.976"]
    timeline, _ = read_any(shared(INTERCHANGE / "fcpx_1.11_23.98fps.fcpxml"))
    fade_in, storyline_in, storyline_out = (seconds(t) * rate for t in ("286286/24000s", "24024/24000s",
                                                                         "128128/24000s"))
    end = 3004 + (seconds("89089/24000s") + seconds("374374/24000s")) * rate
    assert transitions(timeline) == [("V1", 0, "Cross Dissolve", 0, fade_in, (None, "TestVideo")),
                                     ("V2", 3004, "Cross Dissolve", 0, storyline_in, ("Gap", "TestVideo")),
                                     ("V2", end, "Cross Dissolve", storyline_out, 0, ("TestVideo", "Gap"))]
    assert (fade_in, storyline_in, storyline_out, end) == (286, 24, 128, 3467)


def test_an_inpaint_of_a_clip_under_a_final_cut_dissolve_covers_what_the_dissolve_shows():
    text = shared(INTERCHANGE / "fcpx_1.8_example.fcpxml").read_text()
    timeline = first_project(text)
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "track": 1, "frame": 1600,
                                      "region": [0, 0, 8, 8]}
    lengths = {clip.media_reference.target_url: to_frame(clip.media_reference.available_range.duration, 30)
               for clip in timeline.find_clips() if clip.media_reference.available_range is not None}

    def lookup(path, where):
        url = next(u for u in lengths if u.endswith(Path(path).name))
        return MediaFacts(path, 1920, 1080, Fraction(30), lengths[url])
    plan = plan_request(timeline, request_from_timeline(timeline), lookup)
    # IMG_0268 (record 1500-1784): the fade in shows nothing before it, the dissolve 15 frames after it
    assert (plan.record_frame, plan.frames) == (1500, 285 + 15)
    [note] = plan.notes
    assert "the transition 'Cross Dissolve' at the cut at frame 1785" in note and "shows 15 frame(s)" in note


def test_an_overwrite_in_result_otio_keeps_the_final_cut_dissolve_and_writes_it_back(tmp_path):
    """IMG_0715 inpainted by overwrite: result.otio keeps its dissolve into the gap, and the result
    written as FCPXML holds it, as the editor's export had it."""
    timeline = first_project(shared(INTERCHANGE / "fcpx_1.8_example.fcpxml").read_text())
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "frame": 100, "region": [0, 0, 8, 8],
                                      "placement": "overwrite"}

    def lookup(path, where):
        return MediaFacts(path, 1920, 1080, Fraction(30), 400)  # 100 frames beyond the clip's 300
    plan = plan_request(timeline, request_from_timeline(timeline), lookup)
    assert (plan.record_frame, plan.frames, plan.media_frames) == (0, 300, 315)
    result = splice_result(timeline, plan, plan.placements(str(tmp_path / "new.mov")), {"engine": "classical"})
    assert transitions(result)[0] == ("V1", 300, "Cross Dissolve", 15, 15, ("IMG_0715 (ShotForge inpaint)", "Gap"))
    written = write_in_format(result, "fcpx_xml", Path("edit.fcpxml"), tmp_path)
    assert "error" not in written, written
    back, _ = read_any(written["path"])
    assert transitions(back) == transitions(result) and cut(back) == cut(result)


@pytest.mark.parametrize("name", ["fcpx_1.8_example.fcpxml", "fcpx_1.11_23.98fps.fcpxml"])
def test_real_exports_write_their_dissolves_back_as_read(tmp_path, name):
    source = shared(INTERCHANGE / name)
    timeline = first_project(source.read_text())
    write_fcpxml(timeline, str(tmp_path / "back.fcpxml"))  # refuses what would not read back the same
    written = ET.parse(tmp_path / "back.fcpxml").getroot()
    back = first_project((tmp_path / "back.fcpxml").read_text())
    assert transitions(back) == transitions(timeline) and cut(back) == cut(timeline)
    original = ET.parse(source).getroot().find(".//project")  # the first project
    # each transition's effects as the export had them (params, effect data), naming the same effects
    effects = {e.get("id"): (e.get("name"), e.get("uid")) for e in written.iter("effect")}
    first = next(original.iter("transition"))
    again = next(written.iter("transition"))
    assert [(f.tag, [(p.get("name"), p.get("value")) for p in f.iter("param")], [d.text for d in f.iter("data")])
            for f in again] == \
           [(f.tag, [(p.get("name"), p.get("value")) for p in f.iter("param")], [d.text for d in f.iter("data")])
            for f in first]
    assert [effects[f.get("ref")] for f in again] == [("Cross Dissolve", "FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265"),
                                                     ("Audio Crossfade", "FFAudioTransition")]
    # above V1 a transition needs a storyline: the one Final Cut Pro made is made again, at its offset
    storylines = [s for s in written.iter("spine") if s.get("lane")]
    assert len(storylines) == len([s for s in original.iter("spine") if s.get("lane")]) == 1
    assert [c.tag for c in storylines[0]] == [c.tag.replace("asset-clip", "clip") for c in
                                             next(s for s in original.iter("spine") if s.get("lane"))]


def _project(rate: Fraction, tmp_path: Path) -> otio.schema.Timeline:
    """V1: a 10-frame fade in, A (media 20-119) | a 12/12 dissolve | B (48) | 6/0 into a 20-frame gap
    | C (30); V2 over B and the gap: D (30) | 4/5 dissolve | E (24), a storyline; from frame 86400."""
    r = float(rate)

    def clip(name, start, frames):
        return otio.schema.Clip(name=name, source_range=TR(RT(start, r), RT(frames, r)),
                                media_reference=otio.schema.ExternalReference(
                                    (tmp_path / f"{name}.mov").as_uri(),
                                    available_range=TR(RT(0, r), RT(2000, r))))

    def dissolve(before, after, name="Cross Dissolve"):
        return otio.schema.Transition(name=name, transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                      in_offset=RT(before, r), out_offset=RT(after, r))

    timeline = otio.schema.Timeline(name="dissolves", global_start_time=RT(86400, r))
    v1, v2 = otio.schema.Track(name="V1"), otio.schema.Track(name="V2")
    v1.extend([dissolve(0, 10, "Fade In"), clip("A", 20, 100), dissolve(12, 12), clip("B", 300, 48), dissolve(6, 0),
               otio.schema.Gap(source_range=TR(RT(0, r), RT(20, r))), clip("C", 40, 30)])
    v2.extend([otio.schema.Gap(source_range=TR(RT(0, r), RT(110, r))), clip("D", 500, 30), dissolve(4, 5),
               clip("E", 700, 24)])
    timeline.tracks.extend([v1, v2])
    return timeline


@pytest.mark.parametrize("label", list(NTSC))
def test_dissolves_written_at_ntsc_rates_read_back_frame_for_frame(tmp_path, label):
    rate = NTSC[label]
    timeline = _project(rate, tmp_path)
    text = write_fcpxml_string(timeline)
    root = ET.fromstring(text)
    spine = root.find(".//sequence/spine")
    # the 12/12 dissolve on the cut at frame 100: from frame 88 (after tcStart), 24 frames long, exact
    dissolve = [t for t in spine.findall("./transition") if t.get("name") == "Cross Dissolve"][0]
    assert seconds(dissolve.get("offset")) == Fraction(86400 + 88) / rate
    assert seconds(dissolve.get("duration")) == Fraction(24) / rate
    assert [c.tag for c in spine] == ["transition", "clip", "transition", "clip", "transition", "gap", "clip"]
    storyline = root.find(".//spine[@lane='1']")
    assert [c.tag for c in storyline] == ["clip", "transition", "clip"]
    back = read_fcpxml_string(text)
    assert rate_of(back) == rate
    assert transitions(back) == transitions(timeline) == [
        ("V1", 0, "Fade In", 0, 10, (None, "A")), ("V1", 100, "Cross Dissolve", 12, 12, ("A", "B")),
        ("V1", 148, "Cross Dissolve", 6, 0, ("B", "Gap")), ("V2", 140, "Cross Dissolve", 4, 5, ("D", "E"))]
    assert cut(back) == cut(timeline)


def test_a_transition_without_an_offset_is_centred_on_its_cut(tmp_path):
    text = shared(INTERCHANGE / "fcpx_1.8_example.fcpxml").read_text()
    bare = text.replace('<transition name="Cross Dissolve" offset="28500/3000s" duration="1s">',
                        '<transition name="Cross Dissolve" duration="1s">', 1)
    assert bare != text
    assert transitions(first_project(bare))[0] == ("V1", 300, "Cross Dissolve", 15, 15, ("IMG_0715", "Gap"))


def test_what_fcpxml_cannot_hold_of_a_transition_is_refused_by_name(tmp_path):
    rate = NTSC["29.97"]
    r = float(rate)
    cases = []
    sound = _project(rate, tmp_path)
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.extend([sound.video_tracks()[0][1].deepcopy(), otio.schema.Transition(name="Audio Crossfade",
                                                                             in_offset=RT(3, r), out_offset=RT(3, r)),
               sound.video_tracks()[0][3].deepcopy()])
    sound.tracks.append(a1)
    cases.append((sound, "the transition 'Audio Crossfade' on A1 at the cut at frame 100: FCPXML is written here "
                         "with the sound connected clip by clip"))
    over_gap = _project(rate, tmp_path)
    over_gap.video_tracks()[1].insert(1, otio.schema.Transition(
        name="Fade", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve, in_offset=RT(2, r),
        out_offset=RT(3, r)))
    cases.append((over_gap, "the transition 'Fade' on V2 at the cut at frame 110 overlaps a gap: Final Cut Pro puts "
                            "a storyline's first transition inside its clip"))
    wipe = _project(rate, tmp_path)
    wipe.video_tracks()[0][2].transition_type = otio.schema.TransitionTypes.Custom
    wipe.video_tracks()[0][2].name = "Wipe"
    cases.append((wipe, "the transition 'Wipe' at the cut at frame 100 is not a dissolve (Custom_Transition): FCPXML "
                        "is written here with Final Cut Pro's Cross Dissolve for a dissolve, or with the effect read "
                        "from FCPXML"))
    for timeline, message in cases:
        written = write_in_format(timeline, "fcpx_xml", Path("edit.fcpxml"), tmp_path)
        assert message in written["error"] and written["error"].endswith("result.otio holds it"), written
        assert not list(tmp_path.glob("*.fcpxml"))
