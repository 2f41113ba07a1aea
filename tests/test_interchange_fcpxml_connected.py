"""FCPXML connected clips (every track above V1, and the audio tracks) hang on the primary
storyline's item under their start, a gap included: written back at the exact record frame at
every rate, and one that starts where V1 has nothing is refused by name."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.fcpxml import cut, read_fcpxml_string, write_fcpxml, write_fcpxml_string
from otio_tools.timeline import rate_of, track_items

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(60000, 1001)]


def _edit(rate: Fraction, tmp_path: Path, over: int) -> otio.schema.Timeline:
    """V1: A 0-99 | gap 100-149 | B 150-199; V2 and A1: a take of 17 frames from record frame ``over``."""
    r = float(rate)

    def clip(name: str, frames: int) -> otio.schema.Clip:
        return otio.schema.Clip(name=name, source_range=TR(RT(0, r), RT(frames, r)),
                                media_reference=otio.schema.ExternalReference(
                                    (tmp_path / f"{name}.mov").as_uri(), available_range=TR(RT(0, r), RT(500, r))))

    def gap(frames: int) -> otio.schema.Gap:
        return otio.schema.Gap(source_range=TR(RT(0, r), RT(frames, r)))

    timeline = otio.schema.Timeline(name="connected", global_start_time=RT(0, r))
    v1, v2 = otio.schema.Track(name="V1"), otio.schema.Track(name="V2")
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    v1.extend([clip("A", 100), gap(50), clip("B", 50)])
    v2.extend([gap(over), clip("take", 17)])
    a1.extend([gap(over), clip("take", 17)])
    timeline.tracks.extend([v1, v2, a1])
    return timeline


@pytest.mark.parametrize("rate", RATES, ids=str)
@pytest.mark.parametrize("over", [3, 102, 149])
def test_a_clip_connected_over_a_clip_or_a_gap_of_v1_keeps_its_record_frames(tmp_path, rate, over):
    timeline = _edit(rate, tmp_path, over)
    back = read_fcpxml_string(write_fcpxml_string(timeline))
    assert cut(back) == cut(timeline)
    assert [(i.start, i.end) for i in track_items(back.video_tracks()[1], rate_of(back)) if i.is_clip] == \
        [(over, over + 17)]


def test_a_connected_clip_starting_past_the_primary_storyline_is_refused_naming_it(tmp_path):
    timeline = _edit(Fraction(30000, 1001), tmp_path, 205)
    with pytest.raises(ValueError, match=r"clip 'take' on V2 at record frames 205-221 starts after the primary "
                                         r"storyline \(V1\) ends at frame 199"):
        write_fcpxml(timeline, str(tmp_path / "out.fcpxml"))
    assert not (tmp_path / "out.fcpxml").exists()
