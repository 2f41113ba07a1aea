"""FCPXML at every rate: Final Cut Pro's own exports (23.976, 29.97, a 24 fps project of 25 fps
media) read with exact rates and record frames, FCPXML written at 23.976, 29.97 and 59.94 read
back frame for frame, and a batch of an NTSC project written back as FCPXML with its new clip in
place. The expected frames are counted here from the files' own rational times."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.fcpxml import cut, seconds, write_fcpxml_string
from otio_tools.interchange import read_any, write_in_format
from otio_tools.retime import clip_speed
from otio_tools.timeline import rate_of, track_items
from tests.serverutil import CARPHONE, copy_media
from tests.shared_data import INTERCHANGE, shared
from tests.test_batch import batch_process

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
NTSC = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "59.94": Fraction(60000, 1001)}


def _spine(path: Path) -> tuple[ET.Element, Fraction, Fraction]:
    """The project's sequence, its rate (from its format's frameDuration) and its tcStart."""
    root = ET.parse(path).getroot()
    sequence = root.find("./library/event/project/sequence")
    frame = root.find(f"./resources/format[@id='{sequence.get('format')}']").get("frameDuration")
    return sequence, 1 / seconds(frame), seconds(sequence.get("tcStart"))


def _primary(path: Path) -> list[tuple[int, int, str]]:
    """(record start, frames, name) of each clip of the primary storyline, from the file's times
    (an audition shows its first clip)."""
    sequence, rate, start = _spine(path)
    placed = []
    for element in sequence.find("./spine"):
        timed = element[0] if element.tag == "audition" else element
        if element.tag in ("asset-clip", "ref-clip", "clip", "audition"):
            at, frames = (seconds(element.get("offset")) - start) * rate, seconds(timed.get("duration")) * rate
            assert at.denominator == frames.denominator == 1, "Final Cut Pro puts clips on whole frames"
            placed.append((int(at), int(frames), timed.get("name")))
    return placed


def _clips(timeline: otio.schema.Timeline, track: int = 0) -> list[tuple[int, int, str]]:
    rate = rate_of(timeline)
    return [(i.start, i.duration, i.item.name) for i in track_items(timeline.video_tracks()[track], rate)
            if not i.is_gap]


@pytest.mark.parametrize("name, rate", [("fcpx_1.11_23.98fps.fcpxml", NTSC["23.976"]),
                                        ("fcpx_1.11_29.97df.fcpxml", NTSC["29.97"])])
def test_final_cut_pro_ntsc_exports_read_at_their_exact_rate_and_frames(name, rate):
    source = shared(INTERCHANGE / name)
    timeline, adapter = read_any(source)
    assert adapter == "fcpx_xml"
    assert rate_of(timeline) == rate and isinstance(rate_of(timeline), Fraction)
    assert _clips(timeline) == _primary(source)
    sequence, _, _ = _spine(source)
    end = max(track_items(t, rate)[-1].end for t in timeline.video_tracks())
    assert end == seconds(sequence.get("duration")) * rate


def test_the_23976_export_puts_storylines_auditions_and_retimes_where_final_cut_pro_does():
    source = shared(INTERCHANGE / "fcpx_1.11_23.98fps.fcpxml")
    timeline, _ = read_any(source)
    rate = NTSC["23.976"]
    clips = list(timeline.video_tracks()[0].find_clips(shallow_search=True))  # the fade in before them aside
    first = clips[0]
    assert (first.name, first.duration().value) == ("TestVideo", 760)  # 760760/24000s, not 729 frames at 23
    # the audition's pick (TestVideo2), and not its alternative, follows at 760
    assert [n for _, _, n in _clips(timeline)][:3] == ["TestVideo", "TestVideo2", "TestVideo"]
    # V2: the secondary storyline at 571571/3000s inside the clip at 2724 (start 4292288/24000s),
    # then a clip connected at 9349340/24000s inside the clip at 4795 (start 9171162/24000s)
    storyline = int((seconds("571571/3000s") - seconds("4292288/24000s")) * rate) + 2724
    connected = int((seconds("9349340/24000s") - seconds("9171162/24000s")) * rate) + 4795
    assert [(s, f) for s, f, _ in _clips(timeline, 1)] == [(storyline, 89), (storyline + 89, 374), (connected, 375)]
    assert (storyline, connected) == (3004, 4973)
    retimed = clips[3]
    speed = seconds("149819760/360000s") / seconds("65872008/360000s")  # its timeMap's two points
    assert clip_speed(retimed, "clip") == speed.limit_denominator(1000)
    # its start (in retimed time) is the media time it maps to
    assert retimed.source_range.start_time.to_seconds() == pytest.approx(float(seconds("1192711/24000s") * speed))
    assert retimed.media_reference.target_url == "file:///Users/user/Movies/TestVideo.mp4"  # from its media-rep


def test_a_24_fps_project_of_25_fps_media_counts_record_frames_at_24_and_media_frames_at_25():
    source = shared(INTERCHANGE / "fcpx_1.11_24fps_with_25fps_media.fcpxml")
    timeline, _ = read_any(source)
    assert rate_of(timeline) == 24 and timeline.global_start_time.to_frames() == 86400  # tcStart 3600s
    assert _clips(timeline) == _primary(source) == [(240, 54, "TestVideo"), (360, 3551, "TestVideo2")]
    clip = timeline.video_tracks()[0][1]
    assert clip.source_range.start_time == RT(684, 25)  # start="684/25s"
    assert clip.media_reference.available_range.duration == RT(738, 25)  # the asset's 738000/25000s


def _project(rate: Fraction, media_rate: Fraction, tmp_path: Path) -> otio.schema.Timeline:
    """V1: A (media 10-109) | gap 7 | B (25 fps or other-rate media); V2: gap 30 | C (20); A1:
    A's sound; starting at 01:00:00:00."""
    r, m = float(rate), float(media_rate)

    def clip(name, start, frames, media_at=r, available=2000):
        return otio.schema.Clip(name=name, source_range=TR(RT(start, media_at), RT(frames, r)),
                                media_reference=otio.schema.ExternalReference(
                                    (tmp_path / f"{name}.mov").as_uri(), available_range=TR(RT(0, media_at),
                                                                                            RT(available, media_at))))

    timeline = otio.schema.Timeline(name="ntsc", global_start_time=RT(86400, r))
    v1, v2 = otio.schema.Track(name="V1"), otio.schema.Track(name="V2")
    v1.extend([clip("A", 10, 100), otio.schema.Gap(source_range=TR(RT(0, r), RT(7, r))),
               clip("B", 50, 48, media_at=m)])
    v2.extend([otio.schema.Gap(source_range=TR(RT(0, r), RT(30, r))), clip("C", 500, 20)])
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.append(clip("A", 10, 100))
    timeline.tracks.extend([v1, v2, a1])
    return timeline


@pytest.mark.parametrize("label", list(NTSC))
@pytest.mark.parametrize("mixed", [False, True])
def test_fcpxml_written_at_ntsc_rates_reads_back_frame_for_frame(tmp_path, label, mixed):
    rate = NTSC[label]
    media_rate = Fraction(25) if mixed else rate
    timeline = _project(rate, media_rate, tmp_path)
    text = write_fcpxml_string(timeline)
    assert f'frameDuration="{rate.denominator}/{rate.numerator}s"' in text
    if mixed:
        assert 'frameDuration="100/2500s"' in text  # B's own format is its media's rate
    source = tmp_path / "ntsc.fcpxml"
    source.write_text(text)
    back, _ = read_any(source)
    assert rate_of(back) == rate and back.global_start_time.to_frames() == 86400
    assert _clips(back) == [(0, 100, "A"), (107, 48, "B")] and _clips(back, 1) == [(30, 20, "C")]
    assert back.video_tracks()[0][2].source_range.start_time == RT(50, float(media_rate))
    assert [(i.start, i.duration) for i in track_items(back.audio_tracks()[0], rate)] == [(0, 100)]
    assert cut(back) == cut(timeline)
    written = write_in_format(back, "fcpx_xml", source, tmp_path)
    again, _ = read_any(written["path"])
    assert cut(again) == cut(timeline)


@pytest.mark.parametrize("name", ["fcpx_1.11_23.98fps.fcpxml", "fcpx_1.11_29.97df.fcpxml",
                                  "fcpx_1.11_24fps_with_25fps_media.fcpxml"])
def test_real_exports_with_a_new_clip_round_trip_exactly(tmp_path, name):
    timeline, adapter = read_any(shared(INTERCHANGE / name))
    rate = rate_of(timeline)
    before = cut(timeline)
    made = otio.schema.Track(name="V3")  # a result on a new track above, as a placement puts it
    made.extend([otio.schema.Gap(source_range=TR(RT(0, float(rate)), RT(100, float(rate)))),
                 otio.schema.Clip(name="take", source_range=TR(RT(0, float(rate)), RT(12, float(rate))),
                                  media_reference=otio.schema.ExternalReference(
                                      (tmp_path / "take.mov").as_uri(),
                                      available_range=TR(RT(0, float(rate)), RT(12, float(rate)))))])
    timeline.tracks.append(made)
    written = write_in_format(timeline, adapter, Path(name), tmp_path)
    assert "error" not in written, written
    back, _ = read_any(written["path"])
    assert cut(back) == cut(timeline) and cut(back)[:len(before)] == before
    assert _clips(back, len(back.video_tracks()) - 1) == [(100, 12, "take")]


def test_what_fcpxml_cannot_hold_is_refused_with_result_otio_named(tmp_path):
    timeline = _project(NTSC["29.97"], NTSC["29.97"], tmp_path)
    timeline.video_tracks()[0][0].effects.append(otio.schema.LinearTimeWarp(time_scalar=-1))
    written = write_in_format(timeline, "fcpx_xml", Path("edit.fcpxml"), tmp_path)
    assert written["error"].startswith("the result cannot be written as FCPXML (result.fcpxml): ValueError: "
                                       "clip 'A' plays at speed -1")
    assert written["error"].endswith("result.otio holds it") and not list(tmp_path.glob("*.fcpxml"))

    generators, _ = read_any(shared(INTERCHANGE / "fcpx_1.11_complex.fcpxml"))  # a Clouds generator at 8696
    written = write_in_format(generators, "fcpx_xml", Path("edit.fcpxml"), tmp_path)
    assert "clip 'Clouds' is a generator (Clouds): the FCPXML adapter writes only clips of media files" \
        in written["error"]


def test_a_speed_ramp_is_read_as_a_time_effect_that_is_refused_by_name(tmp_path):
    text = shared(INTERCHANGE / "fcpx_1.11_29.97df.fcpxml").read_text()
    ramp = text.replace('<timept time="4436211/90000s" value="9168210/90000s" interp="smooth2"/>',
                        '<timept time="1s" value="2s" interp="smooth2"/>'
                        '<timept time="4436211/90000s" value="9168210/90000s" interp="smooth2"/>', 1)
    assert ramp != text
    source = tmp_path / "ramp.fcpxml"
    source.write_text(ramp)
    timeline, _ = read_any(source)
    with pytest.raises(Exception, match="speed ramp|TimeEffect"):
        clip_speed(timeline.video_tracks()[0][3], "clip 'TestVideo' at frame 317")


def test_a_batch_of_a_2997_fcpxml_project_writes_its_gap_fill_back_into_the_fcpxml(tmp_path):
    media = copy_media(tmp_path / "media", CARPHONE[0])
    rate = NTSC["29.97"]
    r = float(rate)
    timeline = otio.schema.Timeline(name="carphone", global_start_time=RT(107892, r))  # 01:00:00;00 DF
    track = otio.schema.Track(name="V1")
    for start, frames in ((0, 50), (56, 50)):
        if track:
            track.append(otio.schema.Gap(source_range=TR(RT(0, r), RT(6, r))))
        track.append(otio.schema.Clip(name="carphone", source_range=TR(RT(start, r), RT(frames, r)),
                                      media_reference=otio.schema.ExternalReference(
                                          media.as_uri(), available_range=TR(RT(0, r), RT(120, r)))))
    timeline.tracks.append(track)
    source = tmp_path / "carphone.fcpxml"
    source.write_text(write_fcpxml_string(timeline))
    out = tmp_path / "batch"
    run = batch_process(source, out)
    stdout, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    assert f"result  {out / 'result.fcpxml'} (FCPXML)" in stdout
    placements = json.loads((out / "job.json").read_text())["placements"]
    assert [(p["track"], p["record_frame"], p["frames"]) for p in placements] == [(0, 50, 6)]
    back, _ = read_any(out / "result.fcpxml")
    assert rate_of(back) == rate and back.global_start_time.to_frames() == 107892
    assert [(s, f) for s, f, _ in _clips(back)] == [(0, 50), (50, 6), (56, 50)]
    made = back.video_tracks()[0][1]
    assert Path(placements[0]["media"]).as_uri() == made.media_reference.target_url
    assert cut(back) == cut(read_any(out / "result.otio")[0])


def test_titles_and_generators_take_their_record_time_as_generator_clips():
    """The 25 fps export's titles hang on a clip at 355100/2500s; the adapter alone drops them, so
    their record time would read as a gap that a batch fills."""
    source = shared(INTERCHANGE / "fcpx_1.11_complex.fcpxml")
    timeline, _ = read_any(source)
    rate = rate_of(timeline)
    parent = seconds("355100/2500s")
    titles = [(int((parent + seconds(offset)) * rate), int(seconds(duration) * rate))
              for offset, duration in (("1189/25s", "43000/2500s"), ("1757/25s", "30900/2500s"))]
    placed = [i for i in track_items(timeline.video_tracks()[1], rate) if not i.is_gap]
    assert [(i.start, i.duration) for i in placed] == titles == [(4740, 430), (5308, 309)]
    assert {i.item.media_reference.generator_kind for i in placed} == {"Basic Title"}
    clouds = timeline.video_tracks()[0][2]
    assert (clouds.name, clouds.media_reference.generator_kind) == ("Clouds", "Clouds")


def test_the_projects_timecode_counting_is_kept_and_written_back(tmp_path):
    source = shared(INTERCHANGE / "fcpx_1.11_29.97df.fcpxml")
    timeline, adapter = read_any(source)
    assert timeline.metadata["fcpx_xml"]["tcFormat"] == "DF"  # <sequence ... tcFormat="DF">
    written = write_in_format(timeline, adapter, source, tmp_path)
    sequence = ET.parse(written["path"]).getroot().find("./project/sequence")
    assert (sequence.get("tcFormat"), sequence.get("tcStart")) == ("DF", "0s")


MULTICAM = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.11">
  <resources>
    <format id="r1" frameDuration="1001/30000s" width="1920" height="1080"/>
    <asset id="r2" name="A" start="0s" duration="300300/30000s" hasVideo="1" hasAudio="1" format="r1">
      <media-rep kind="original-media" src="file:///media/a.mov"/>
    </asset>
    <asset id="r4" name="sound" start="0s" duration="10s" hasAudio="1">
      <media-rep kind="original-media" src="file:///media/sound.wav"/>
    </asset>
    <media id="r3" name="Multicam">
      <multicam format="r1" tcStart="0s">
        <mc-angle name="Cam 1" angleID="a1"><asset-clip ref="r2" offset="0s" duration="300300/30000s"/></mc-angle>
      </multicam>
    </media>
  </resources>
  <library><event name="e"><project name="p">
    <sequence format="r1" duration="150150/30000s" tcStart="0s" tcFormat="NDF">
      <spine>
        <asset-clip ref="r2" offset="0s" name="A" duration="30030/30000s"/>
        <mc-clip ref="r3" offset="30030/30000s" name="Multicam" duration="60060/30000s">
          <mc-source angleID="a1" srcEnable="all"/>
        </mc-clip>
        <asset-clip ref="r2" offset="90090/30000s" name="A" start="30030/30000s" duration="30030/30000s"/>
        <sync-clip offset="120120/30000s" name="Synced" start="10010/30000s" duration="30030/30000s">
          <asset-clip ref="r2" offset="10010/30000s" name="A" start="60060/30000s" duration="30030/30000s"/>
          <asset-clip ref="r4" lane="-1" offset="10010/30000s" name="sound" duration="30030/30000s"/>
        </sync-clip>
      </spine>
    </sequence>
  </project></event></library>
</fcpxml>
"""


def test_multicam_and_synchronized_clips_keep_their_record_frames(tmp_path):
    source = tmp_path / "multicam.fcpxml"
    source.write_text(MULTICAM)
    timeline, _ = read_any(source)
    assert rate_of(timeline) == NTSC["29.97"]
    v1 = [(i.start, i.duration, i.item.name, i.item.source_range.start_time.value)
          for i in track_items(timeline.video_tracks()[0], NTSC["29.97"])]
    # 30030/30000s is 30 frames at 29.97; the synced clip's picture starts 60 frames into A
    assert v1 == [(0, 30, "A", 0), (30, 60, "Multicam", 0), (90, 30, "A", 30), (120, 30, "A", 60)]
    assert timeline.video_tracks()[0][1].media_reference.generator_kind == "multicam clip"
    (a1,) = timeline.audio_tracks()
    assert [(i.start, i.duration, i.item.name) for i in track_items(a1, NTSC["29.97"]) if i.is_clip] == [
        (120, 30, "sound")]


def test_the_stock_adapters_fcpxml_reads_the_same_and_its_writer_cannot_write_2398(tmp_path):
    timeline = _project(Fraction(25), Fraction(25), tmp_path)
    stock = tmp_path / "stock.fcpxml"
    stock.write_text(otio.adapters.write_to_string(timeline, "fcpx_xml"))  # the adapter's own writer
    back, _ = read_any(stock)
    assert _clips(back) == [(0, 100, "A"), (107, 48, "B")] and _clips(back, 1) == [(30, 20, "C")]
    assert cut(back)[1:] == cut(timeline)[1:]  # all but the start timecode, which it does not write
    # why ShotForge writes through its own subclass: the stock writer finds no frameDuration for 23.976
    with pytest.raises(ValueError):
        otio.adapters.write_to_string(_project(NTSC["23.976"], NTSC["23.976"], tmp_path), "fcpx_xml")


def test_a_format_without_a_frame_duration_is_refused_naming_it(tmp_path):
    source = tmp_path / "no_rate.fcpxml"
    source.write_text(MULTICAM.replace('frameDuration="1001/30000s" ', 'name="FFVideoFormat1080p2997" '))
    with pytest.raises(Exception) as caught:
        read_any(source)
    assert caught.value.code == "malformed_otio"
    assert "format 'FFVideoFormat1080p2997' gives no frameDuration, so its frame rate is unknown" \
        in caught.value.message
