"""Windows and slots of the diffusers engine, as pure arithmetic (no torch, no model).

The property: every window holds the done slots (known, or made by an earlier window) next to
what it makes, on each side where there are any, up to the model's context; together the windows
make every slot; each has 4k+1 frames, at most the model's window. Planned forwards only, long gap
fills lost the shot after the gap (for gaps needing 76, 148, 220 ... model frames no window held
it): checked here over every gap length up to 20 s at every editor rate.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from server.engines.diffusers.models import Native
from server.engines.diffusers.windows import (context_frames, context_slots, frame_buckets, gap_intervals, known_slots,
                                              plan_windows, slot_step, window_length)

WAN = Native(832, 480, 16.0, 81, 9, 30, 5.0)  # the published Wan2.1 VACE window: 81 frames, 9 of context
TINY = Native(48, 32, 8.0, 13, 4, 2, 1.0)
RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(50),
         Fraction(60000, 1001), Fraction(60), Fraction(120)]


def check_windows(pending: list[bool], native: Native, buckets=None) -> None:
    context = context_slots(native)
    windows = plan_windows(pending, native.max_frames, context, native.temporal, buckets)
    done = [not p for p in pending]
    n = len(done)
    for w in windows:
        assert w.frames <= native.max_frames and (w.frames - 1) % native.temporal == 0, w
        assert 0 <= w.start < w.end <= n and (w.pad_before == 0 or w.start == 0) and (w.pad_after == 0 or w.end == n)
        made = [i for i in range(w.start, w.end) if not done[i]]
        assert made and made[-1] + 1 - made[0] == len(made), (w, "makes one run of slots")
        for side in (-1, 1):
            i, run = (made[0] - 1, 0) if side < 0 else (made[-1] + 1, 0)
            while 0 <= i < n and done[i]:
                run, i = run + 1, i + side
            seen = made[0] - w.start if side < 0 else w.end - made[-1] - 1
            assert seen >= min(context, run), (w, "sees", seen, "of", run, "done slots on side", side)
        for i in made:
            done[i] = True
    assert all(done)


@pytest.mark.parametrize("rate", RATES, ids=str)
def test_gap_fill_windows_see_both_shots_at_every_length(rate):
    step = slot_step(rate, WAN)
    for context in (8, context_frames(rate, WAN)):  # what the planner sends today, and what the engine asks for
        for frames in range(1, int(20 * rate)):
            intervals, s = gap_intervals(frames, step)
            nb = na = known_slots(context, s)
            pending = [False] * (nb + 1) + [True] * (intervals - 1) + [False] * (na + 1)
            if intervals > 1:
                check_windows(pending, WAN)


def test_the_gap_lengths_the_issue_names_close_on_the_shot_after():
    """8 timeline frames at 25 fps are 5 model slots a side; with 76, 148 or 220 slots to make, the
    forward-only planner's last window ended on the last slot of the gap and held none of the 5 after it."""
    for made in (76, 148, 220):
        pending = [False] * 5 + [True] * made + [False] * 5
        windows = plan_windows(pending, 81, 9, 4)
        assert windows[-1].end == len(pending), (made, windows)
        check_windows(pending, WAN)


@pytest.mark.parametrize("native", [WAN, TINY], ids=["wan", "tiny"])
def test_extensions_and_generation_keep_the_rule(native):
    for made in range(1, 400):
        for known in (1, 3, native.overlap + 1, 30):
            check_windows([False] * known + [True] * made, native)  # tail: forwards
            check_windows([True] * made + [False] * known, native)  # head: backwards from the shot
        check_windows([True] * made, native)  # generate: nothing known


def test_head_extension_runs_from_the_shot_outwards():
    windows = plan_windows([True] * 200 + [False] * 9, 81, 9, 4)
    assert windows[0].end == 209 and windows[0].start == 209 - 81  # first: against the shot
    assert [w.end for w in windows] == sorted((w.end for w in windows), reverse=True)


def test_buckets_hold_every_window_to_a_few_lengths():
    buckets = frame_buckets(81, 4)
    assert buckets == [21, 41, 81]
    lengths = set()
    for made in range(1, 300):
        for pending in ([False] * 9 + [True] * made, [False] * 9 + [True] * made + [False] * 9, [True] * made):
            windows = plan_windows(pending, 81, 9, 4, buckets)
            lengths |= {w.frames for w in windows}
            check_windows(pending, WAN, buckets)
    assert lengths == set(buckets)
    assert window_length(22, 4, buckets) == 41 and window_length(22, 4, None) == 25


@pytest.mark.parametrize("rate", RATES, ids=str)
def test_context_is_counted_in_model_frames(rate):
    """The context the engine asks for covers its overlap in model frames (at least one latent group of
    4 beyond the first frame) at any timeline rate; 8 timeline frames at 60 fps were barely two."""
    for native in (WAN, TINY):
        frames = context_frames(rate, native)
        assert known_slots(frames, slot_step(rate, native)) + 1 >= context_slots(native) >= native.temporal + 1
        assert known_slots(frames - 1, slot_step(rate, native)) + 1 < context_slots(native)
    assert context_frames(Fraction(60), WAN) == 31 and context_frames(Fraction(16), WAN) == 9


def test_a_pending_mask_with_holes_is_refused():
    with pytest.raises(ValueError, match="one run"):
        plan_windows([True, False, True], 13, 4, 4)
