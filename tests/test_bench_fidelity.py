"""The fidelity benchmark's own logic: which windows it measures and how it judges the targets
(its figures are in bench/RESULTS.md; these check that a PASS means what it says)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from server.engines.classical import build_engine
from tests.frames import bench_module


@pytest.fixture(scope="module")
def fidelity():
    return bench_module("fidelity")


def _clip(fidelity, frames: list[np.ndarray], motion: np.ndarray, cut: np.ndarray):
    return fidelity.Clip("synthetic", Path("synthetic.mp4"), Fraction(25), frames[0].shape[1::-1], frames,
                         motion=motion, cut=cut)


def test_unseen_windows_overlap_none_the_engine_was_tuned_on(fidelity):
    rng = np.random.default_rng(3)
    n = 150
    cut = np.zeros(n, bool)
    cut[[40, 97]] = True
    clip = _clip(fidelity, [np.zeros((8, 8, 3), np.uint8)] * n, rng.uniform(0, 5, n), cut)
    for gap in fidelity.GAPS:
        unseen = fidelity.unseen_positions(clip, gap)
        tuned = set().union(*(fidelity.gap_positions(clip, gap, k) for k in fidelity.TUNED_COUNTS))
        moving = set(fidelity.moving_windows(clip, gap))
        if gap < 7:  # 15 tuned 7-frame windows of 150 frames can leave none
            assert unseen, gap
        assert set(unseen) <= moving
        assert all(abs(p - q) > gap for p in unseen for q in tuned), gap
        # no window takes in a cut, with minterpolate's frame beyond each end
        assert not any(cut[p - 2:p + gap + 1].any() for p in unseen)


def test_a_flat_clip_passes_the_outpaint_check_exactly(fidelity, capsys):
    # every method reproduces a flat border exactly: that is a match, not a failure to beat them
    frames = [np.full((48, 64, 3), 90, np.uint8) for _ in range(12)]
    clip = _clip(fidelity, frames, None, None)
    fidelity.analyse(clip)
    results = {"flat": {"gap": {}, "ext": {}, "out": fidelity.run_outpaint(build_engine(), clip, 8)}}
    assert fidelity.report(results, [], mi=False)
    out = capsys.readouterr().out
    assert "PASS  outpaint 4:3 flat: above reflect and blurred fill: border exact" in out
    assert "PASS  outpaint 9:16 flat: above reflect and blurred fill: border exact" in out


def test_a_border_below_reflect_padding_fails_the_check(fidelity, capsys):
    row = {"start": 0, "original_flicker": 1.0, "ours": [20.0, 0.8, 0.5], "reflect": [20.5, 0.8, 3.0],
           "blurred": [18.0, 0.7, 1.0]}
    assert not fidelity.report({"clip": {"gap": {}, "ext": {}, "out": {"4:3": row}}}, [], mi=False)
    assert "FAIL  outpaint 4:3 clip: above reflect and blurred fill: -0.50 dB" in capsys.readouterr().out


# -- the seam and flicker measure -----------------------------------------------------------

def _sky(h: int = 72, w: int = 96, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    """A flat area as footage shows it: a soft vertical gradient with a soft cloud drifting
    ``shift`` px to the right, and grain."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cloud = 18 * np.exp(-((xs - 30 - shift) ** 2 + (ys - 36) ** 2) / (2 * 14.0 ** 2))
    grain = np.random.default_rng(seed).normal(0, 1.5, (h, w))
    luma = 120 + 0.3 * ys + cloud + grain
    return np.repeat(np.clip(luma, 0, 255)[..., None], 3, 2).astype(np.uint8)


def _pan(n: int) -> list[np.ndarray]:
    return [_sky(shift=2.0 * k, seed=k) for k in range(n)]


def _blotches(frame: np.ndarray, seed: int) -> np.ndarray:
    """Soft patches a few levels off, somewhere else in each frame: map-like regions that flicker."""
    noise = np.random.default_rng(seed).normal(0, 1, frame.shape[:2]).astype(np.float32)
    patches = cv2.GaussianBlur(noise, (0, 0), 5.0)
    patches *= 6.0 / patches.std()
    return np.clip(frame.astype(np.float32) + patches[..., None], 0, 255).astype(np.uint8)


def _contour(frame: np.ndarray, seed: int, level: int = 30) -> np.ndarray:
    """A thin bright contour across the frame, in a different place each frame."""
    out = frame.copy()
    h, w = frame.shape[:2]
    xs = np.arange(w)
    ys = h / 2 + 12 * np.sin(xs / 9.0 + seed)
    cv2.polylines(out, [np.stack([xs, ys], 1).astype(np.int32)], False, (level + 130,) * 3, 1)
    return out


def test_a_flickering_sequence_scores_above_a_steady_one(fidelity):
    seams = fidelity.seams
    real = _pan(5)  # a, three frames, b
    a, truth, b = real[0], real[1:4], real[4]
    regions = seams.frame_regions(real)
    assert regions["flat"].mean() > 0.5  # the sky is flat where its structure is soft
    flickering = [_blotches(f, k) for k, f in enumerate(truth)]
    steady = [fidelity.dissolve(a, b, (k + 1) / 4) for k in range(3)]  # blurs, but never jumps
    bad = seams.ratios(seams.compare(flickering, truth, regions, a, b)["flat"])["flicker"]
    good = seams.ratios(seams.compare(steady, truth, regions, a, b)["flat"])["flicker"]
    same = seams.ratios(seams.compare(truth, truth, regions, a, b)["flat"])["flicker"]
    assert same == 1.0
    assert good < 1.0 < 1.5 < bad


def test_a_seam_line_scores_above_a_smooth_fill(fidelity):
    seams = fidelity.seams
    real = _pan(3)
    regions = seams.frame_regions(real)
    seamed = [_contour(real[1], 0)]
    smooth = [fidelity.dissolve(real[0], real[2], 0.5)]
    bad = seams.compare(seamed, real[1:2], regions, real[0], real[2])["flat"]
    good = seams.compare(smooth, real[1:2], regions, real[0], real[2])["flat"]
    assert bad["edges"][1] < 0.01  # the real sky has next to no edges there
    assert seams.ratios(bad)["edges"] > 3.0 and seams.ratios(good)["edges"] <= 1.0
    # a contour too faint to see is not an edge
    faint = seams.compare([_contour(real[1], 0, level=4)], real[1:2], regions, real[0], real[2])["flat"]
    assert seams.ratios(faint)["edges"] <= 1.0


def _step(blur: float, height: int = 120) -> np.ndarray:
    """A dark area's edge across the bottom of a plain grey frame, low-passed by ``blur`` px."""
    frame = np.full((72, 96, 3), 150, np.uint8)
    frame[40:] = 150 - height
    return cv2.GaussianBlur(frame, (0, 0), blur) if blur else frame


def test_made_only_edges_are_told_sharp_contours_from_a_spread_low_pass(fidelity):
    """A thin contour's edges are sharp; a strong edge low-passed into the flat sky (as the
    engine's softening spreads a misplaced treeline) adds edges too, but none of them sharp."""
    seams = fidelity.seams
    real = _pan(3)
    regions = seams.frame_regions(real)
    contour = seams.compare([_contour(real[1], 0)], real[1:2], regions, real[0], real[2])["flat"]
    spread = real[1].copy()
    spread[40:] = 40  # a dark treeline's edge where the real sky has none...
    spread = cv2.GaussianBlur(spread, (0, 0), 6.0)  # ...low-passed wide
    ramp = seams.compare([spread], real[1:2], regions, real[0], real[2])["flat"]
    (c_all, c_sharp), (r_all, r_sharp) = contour["made_only"], ramp["made_only"]
    assert c_all > 0.02 and c_sharp / c_all > 0.9
    assert seams.ratios(ramp)["edges"] > 3.0 and r_all > 0.05 and r_sharp / r_all < 0.05
    same = seams.compare(real[1:2], real[1:2], regions, real[0], real[2])["flat"]
    assert same["made_only"] == [0.0, 0.0]


def test_a_made_frame_that_shows_the_real_picture_to_a_level_has_its_edges_and_no_more(fidelity):
    """A faint box whose edge lies near the edge level (a still chart's): the made frame one
    level brighter inside it tips that edge over the level where the real frame's is under; it
    shows the real picture, so it counts the real frame's edges there. A faint contour the real
    frame does not have at all still counts."""
    seams = fidelity.seams
    real = np.full((72, 96, 3), 4, np.uint8)
    real[20:50, 30:70] = 11  # a step of 7 levels: a gradient at the edge level's brink
    brighter = real.copy()
    brighter[20:50, 30:70] += 1
    region = {"flat": np.ones((72, 96), bool)}
    assert (seams.edges(brighter) & ~seams.edges(real)).any()  # the gradient alone: one frame's edge, not the other's
    tipped = seams.compare([brighter], [real], region)["flat"]
    assert tipped["edges"][0] == tipped["edges"][1] and tipped["made_only"] == [0.0, 0.0]
    assert not seams.made_only_edges(brighter, real, region["flat"]).any()
    contour = real.copy()
    contour[60, 10:90] = 24  # 20 levels over the ground: not the real picture
    added = seams.compare([contour], [real], region)["flat"]
    assert added["made_only"][0] > 0.01 and seams.ratios(added)["edges"] > 1.0

@pytest.mark.parametrize("blur, sharp", [(0, True), (2.0, True), (5.0, False), (8.0, False)])
def test_an_edge_is_sharp_up_to_a_blur_of_about_three_pixels_over_its_whole_width(fidelity, blur, sharp):
    seams = fidelity.seams
    frame = _step(blur)
    on_edge = seams.edges(frame)
    assert on_edge.sum() > 96  # a strong step is an edge however blurred: several rows of it
    assert (seams.sharp(frame)[on_edge].mean() == 1.0) if sharp else not seams.sharp(frame)[on_edge].any()


def test_made_only_shares_are_of_the_region_and_averaged_over_the_frames(fidelity):
    seams = fidelity.seams
    real = [np.full((72, 96, 3), 150, np.uint8)] * 2
    made = [_step(0), _step(6.0)]  # a hard edge, then a spread one, where the real frames are plain
    upper = np.zeros((72, 96), bool)
    upper[:48] = True  # a region of two thirds of the frame, holding part of each edge
    row = seams.compare(made, real, {"upper": upper})["upper"]
    per_frame = [(seams.edges(m) & upper).sum() / upper.sum() for m in made]
    sharp = (seams.edges(made[0]) & seams.sharp(made[0]) & upper).sum() / upper.sum()
    assert per_frame[0] > 0 and per_frame[1] > per_frame[0]  # the spread edge covers more
    assert row["made_only"] == pytest.approx([np.mean(per_frame), sharp / 2])
    assert row["edges"] == pytest.approx([np.mean(per_frame), 0.0])
    with pytest.raises(ValueError, match="2 made frames against 1 real"):
        seams.compare(made, real[:1], {"upper": upper})


def test_an_edge_targets_detail_names_how_much_of_its_made_only_edges_is_sharp(fidelity):
    def row(made_only):
        return {"seams": {"ours": {"flat": {"flicker": [1.0, 1.0], "edges": [0.03, 0.01], "made_only": made_only}}}}

    results = {"soft": {"gap": {1: [row([0.02, 0.001]), row([0.01, 0.002])]}, "ext": {}, "out": {}},
               "clean": {"gap": {1: [row([0.0, 0.0])]}, "ext": {}, "out": {}}}
    checks = {what.split(":")[0]: detail for what, ok, detail in fidelity.seams.report(results, 8)
              if "edges" in what}
    assert checks["seams gap 1 soft"] == "2.667x the real frames'; made-only edges on 1.500 % of it, 10 % of them sharp"
    assert checks["seams gap 1 clean"].endswith("; no made-only edges")
    # an extension's, after the held frame's bar
    held = {"seams": {"ours": {"flat": {"flicker": [1.0, 1.0], "edges": [0.03, 0.01], "made_only": [0.02, 0.005]}},
                      "freeze": {"flat": {"flicker": [1.0, 1.0], "edges": [0.01, 0.01]}}}}
    checks = {what.split(":")[0]: detail for what, ok, detail in fidelity.seams.report(
        {"turn": {"gap": {}, "ext": {8: held}, "out": {}}}, 8) if "edges" in what}
    assert checks["seams extend -8 turn"] == ("2.667x the real frames', the held frame 1.000x; "
                                              "made-only edges on 2.000 % of it, 25 % of them sharp")


def test_a_hard_seam_at_the_picture_edge_scores_above_a_continued_border(fidelity):
    seams = fidelity.seams
    real = _pan(4)
    h, w = real[0].shape[:2]
    offset, inner = (24, 0), (48, h)
    regions = seams.outpaint_regions((h, w), offset, inner)
    assert not regions["edge"][:, :16].any() and regions["edge"][:, 24].all()  # only near the picture's sides

    def border(frames, fill):
        out = []
        for f in frames:
            o = fill(f)
            o[:, 24:72] = f[:, 24:72]
            out.append(o)
        return out

    flat_fill = border(real, lambda f: np.full_like(f, 90))  # a flat colour against a brighter picture
    continued = border(real, lambda f: f.copy())
    hard = seams.ratios(seams.compare(flat_fill, real, regions)["edge"])["edges"]
    soft = seams.ratios(seams.compare(continued, real, regions)["edge"])["edges"]
    assert soft == 1.0 and hard > 3.0


def test_seam_targets_pass_and_fail_on_the_ratios(fidelity, capsys):
    def row(flicker, edges):
        return {"seams": {"ours": {"flat": {"flicker": flicker, "edges": edges}}}}

    results = {"calm": {"gap": {1: [row([1.0, 2.0], [0.01, 0.01])]}, "ext": {}, "out": {}},
               "busy": {"gap": {1: [row([3.0, 2.0], [0.05, 0.01])]}, "ext": {}, "out": {}}}
    checks = fidelity.seams.report(results, 8)
    passed = {what: ok for what, ok, _ in checks}
    assert passed == {
        "seams gap 1 calm: made frames flicker no more than the real footage (flat)": True,
        "seams gap 1 calm: no more edges than the real frames (flat)": True,
        "seams gap 1 busy: made frames flicker no more than the real footage (flat)": False,
        "seams gap 1 busy: no more edges than the real frames (flat)": False,
    }
    table = capsys.readouterr().out
    assert "## Seams and flicker" in table
    assert any(line.split()[:5] == ["busy", "gap", "1", "flat", "3.00"] for line in table.splitlines())


def test_flickers_closer_than_the_frames_can_resolve_are_the_same(fidelity):
    """A still chart's made frames at 0.0007 levels against the real frames' 0.0003 flicker as
    little as they do (a few one-level steps placed inside the gap rather than at its join);
    twice the real flicker, clear of that resolution, is more."""
    def row(flicker):
        return {"seams": {"ours": {"flat": {"flicker": flicker, "edges": [0.01, 0.01]}}}}

    results = {"still": {"gap": {3: [row([0.0007, 0.0003])]}, "ext": {}, "out": {}},
               "faint": {"gap": {3: [row([0.004, 0.002])]}, "ext": {}, "out": {}}}
    checks = {what.split(":")[0]: (ok, detail) for what, ok, detail in fidelity.seams.report(results, 8)
              if "flicker" in what}
    assert checks["seams gap 3 still"] == (True, "1.008x the real frames' (0.0007 / 0.0003 levels)")
    assert checks["seams gap 3 faint"][0] is False


def test_the_baselines_edge_ratios_stand_beside_the_engines_and_set_no_gap_target(fidelity, capsys):
    def flat(edges):
        return {"flat": {"flicker": [1.0, 1.0], "edges": edges}}

    windows = [{"seams": {"ours": flat([0.030, 0.010]), "minterp": flat([0.050, 0.010]),
                          "dissolve": flat([0.006, 0.010])}},
               {"seams": {"ours": flat([0.010, 0.010]), "minterp": flat([0.030, 0.010]),
                          "dissolve": flat([0.004, 0.010])}}]
    results = {"busy": {"gap": {3: windows}, "ext": {}, "out": {}}}
    checks = {what: (ok, detail) for what, ok, detail in fidelity.seams.report(results, 8)}
    # the window means: ours 0.020 / 0.010, minterpolate 0.040 / 0.010, the dissolve 0.005 / 0.010
    ok, detail = checks["seams gap 3 busy: no more edges than the real frames (flat)"]
    assert not ok
    assert detail == "1.833x the real frames' (minterpolate 3.500x, dissolve 0.583x)"
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["busy", "gap", "3", "flat"] + "1.00 / 1.00 1.00 2.00 / 1.00 1.83 minterpolate 3.50, dissolve 0.58".split() in rows
    assert ["MEAN", "gap", "3", "flat", "1.00", "1.83", "minterpolate", "3.50,", "dissolve", "0.58"] in rows


def test_an_extensions_edges_are_held_to_the_held_frames_when_it_shows_more(fidelity):
    def row(ours, freeze):
        return {"seams": {"ours": {"flat": {"flicker": [1.0, 1.0], "edges": ours}},
                          "freeze": {"flat": {"flicker": [1.0, 1.0], "edges": freeze}}}}

    grainy, seamed = row([0.012, 0.010], [0.012, 0.010]), row([0.05, 0.010], [0.012, 0.010])
    below_real = row([0.009, 0.010], [0.005, 0.010])
    results = {clip: {"gap": {}, "ext": {8: r}, "out": {}}
               for clip, r in (("grainy", grainy), ("seamed", seamed), ("below", below_real))}
    passed = {what.split(":")[0]: ok for what, ok, _ in fidelity.seams.report(results, 8) if "edges" in what}
    # a freeze scoring above the real frames sets the bar; never below the real frames' own
    assert passed == {"seams extend -8 grainy": True, "seams extend -8 seamed": False, "seams extend -8 below": True}


@pytest.fixture(scope="module")
def gap_windows_tool(fidelity):
    return bench_module("gap_windows")


def test_a_gap_window_shows_the_figures_the_benchmark_measures(fidelity, gap_windows_tool):
    frames = _pan(12)
    clip = _clip(fidelity, frames, np.full(12, 2.0), np.zeros(12, bool))
    engine = build_engine()
    row = fidelity.run_gap(engine, clip, 1, mi=False)[3][0]
    window = gap_windows_tool.gap_window(engine, clip, row["pos"], 3)
    assert window.psnr() == row["ours"][0]
    assert window.seams() == row["seams"]["ours"]
    line = gap_windows_tool.line(clip, 3, window)
    made, real = row["seams"]["ours"]["flat"]["edges"]
    assert line.startswith(f"synthetic 3/{row['pos']} ")
    assert f"edges % {100 * made:.3f} / {100 * real:.3f}" in line
    assert line.endswith("no made-only edges")  # the engine follows the soft pan
    # a window with a made contour: all of its made-only edges are sharp
    real = _pan(3)
    regions = fidelity.seams.frame_regions(real)
    seamed = gap_windows_tool.GapWindow(1, [_contour(real[1], 0)], real[1:2], (real[0], real[2]), regions, 0.0)
    only = fidelity.seams.made_only_edges(seamed.ours[0], real[1], regions["flat"]).mean() / regions["flat"].mean()
    assert gap_windows_tool.line(clip, 1, seamed).endswith(f"made-only % {100 * only:.3f} (100 % sharp)")


def test_a_gap_windows_picture_marks_only_the_edges_the_made_frame_adds(fidelity, gap_windows_tool):
    real = _pan(3)
    regions = fidelity.seams.frame_regions(real)
    window = gap_windows_tool.GapWindow(1, [_contour(real[1], 0)], real[1:2], (real[0], real[2]), regions, 0.0)
    picture = gap_windows_tool.pictures(window)[0]
    h, w = real[1].shape[:2]
    assert picture.shape == (h, 2 * w, 3)
    assert np.array_equal(picture[:, :w], window.ours[0])  # the made frame as it is
    marked = np.all(picture[:, w:] == gap_windows_tool.MARK, axis=2)
    added = fidelity.seams.made_only_edges(window.ours[0], real[1], regions["flat"])
    assert added.sum() > 50 and np.array_equal(marked, added)
    # the contour runs across the middle rows; the real sky there has no edges of its own
    rows = np.flatnonzero(marked.any(axis=1))
    assert rows.min() >= h / 2 - 16 and rows.max() <= h / 2 + 16
    # the same frame as the real one adds nothing
    same = gap_windows_tool.GapWindow(1, real[1:2], real[1:2], (real[0], real[2]), regions, 0.0)
    assert not np.all(gap_windows_tool.pictures(same)[0][:, w:] == gap_windows_tool.MARK, axis=2).any()


def test_the_seam_measure_is_the_same_wherever_the_frames_lie_in_memory(fidelity):
    """The same frames measured at any point of a run count the same edges (benchmark runs are
    compared window by window)."""
    rng = np.random.default_rng(0)
    frame = cv2.GaussianBlur((rng.random((90, 160, 3)) * 255).astype(np.uint8), (0, 0), 2.0)
    buffers = [np.empty(frame.size + 64, np.uint8) for _ in range(16)]
    # each copy starts at another byte offset, and every result is kept so that each lies elsewhere too
    copies = [np.frombuffer(buf.data, np.uint8, frame.size, offset=k).reshape(frame.shape)
              for k, buf in enumerate(buffers)]
    for copy in copies:
        copy[...] = frame
    gradients = [fidelity.seams.gradient(copy, fidelity.seams.SMOOTH_SIGMA) for copy in copies]
    assert all(np.array_equal(g, gradients[0]) for g in gradients)
    ys = cv2.GaussianBlur(fidelity.seams.luma(frame), (0, 0), fidelity.seams.SMOOTH_SIGMA)
    gx = cv2.Sobel(ys, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(ys, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    assert np.allclose(gradients[0], np.hypot(gx, gy), rtol=1e-6, atol=0)
