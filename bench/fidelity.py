"""Fidelity benchmark of the classical engine against the tools an editor already has.

    bench/setup.sh                         # once: installs ffmpeg (for the minterpolate baseline)
    python bench/fidelity.py               # every clip in ../shared/data/video, a few minutes
    python bench/fidelity.py my_clip.mov   # ...and/or any clips given on the command line
    python bench/fidelity.py --full        # more positions/frames, native resolution (slow)
    python bench/fidelity.py --unseen --ops gap --no-speed   # gap fill on windows never tuned on
    python bench/fidelity.py --no-derived  # ...without the footage made from them (bench/fid/footage.py)

On each clip, on the same frames for every method:

- gap fill: 1, 3 and 7 frames removed from the middle of moving stretches (no cut inside),
  remade from the frames around them; PSNR/SSIM of the remade frames against the removed ones.
  The engine gets up to 8 context frames each side (as a timeline render does). Baselines:
  cross-dissolve and ffmpeg ``minterpolate`` (mi_mode=mci, fed the same ends and one frame beyond
  each, timed);
- extension: the clip cut 8 and 24 frames early (moved earlier only to keep a cut out of the
  window) and the tail extended back; PSNR/SSIM of the first 8 extended frames against the true
  ones. Baseline: freeze frame. A case is "static" when the true motion is under 0.5 px/frame;
- outpaint: each frame centre-cropped (16:9 -> 4:3, and 9:16; clips of other shapes keep those
  width ratios) and outpainted back to the original size; PSNR/SSIM of the border only, and border
  flicker (mean absolute frame-to-frame change in the border, 0..255) next to the original's own.
  Baselines: reflect padding and blurred fill (the picture scaled to cover the canvas and blurred);
- seams and flicker (:mod:`seams`): for every case above, the made frames' flicker (second
  temporal difference) and edge density against the real frames' own at the same positions, in
  the real picture's flat areas (gap fill, extension) and in the border and across the picture's
  edge (outpaint); a target holds when the made frames flicker, and show edges, no more than the
  real footage does;
- speed: frames per second of each operation at 1080p (a native 1080p clip if one is given,
  else the first clip scaled up), the minterpolate baseline on the same frames, and the peak
  memory (resident set) of a process doing only that operation.

Frames are decoded with :mod:`server.media_io`. By default clips are evaluated at most 1280
pixels wide (``--max-side``), two positions per gap length and 24 frames of outpainting; the
figures are averages over clips (each clip weighs the same). Exit status is 0 when it ran;
``--check`` also makes it 1 when a target in issue 4 does not hold.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from server import media_io  # noqa: E402
from server.engines.classical import build_engine  # noqa: E402
import seams  # noqa: E402,F401  (tests reach the seam measure through this module)

# the parts, under the names other scripts and the tests use from here
from fid.baselines import blurred_fill, dissolve, have_ffmpeg, minterpolate, peak_rss_mb, reflect_pad  # noqa: E402,F401
from fid.cases import CROPS, crop_layout, outpaint_start, run_extension, run_gap, run_outpaint  # noqa: E402,F401
from fid.footage import derived_clips  # noqa: E402
from fid.clips import (CONTEXT, EXT_EARLY, EXT_SCORED, GAPS, MI_CONTEXT, SHARED_VIDEO, TUNED_COUNTS,  # noqa: E402,F401
                       VIDEO_EXTS, Clip, analyse, extension_cut, gap_positions, load_clip, moving_windows,
                       shared_clip, shot_context, unseen_positions)
from fid.metrics import EXACT_DB, flicker, psnr, ssim  # noqa: E402,F401
from fid.report import STATIC_PX, report  # noqa: E402,F401
from fid.speed import SPEED_OPS, run_speed, speed_child  # noqa: E402,F401


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="*", type=Path, help="more clips (besides the shared ones)")
    ap.add_argument("--only", action="store_true", help="only the clips given, not the shared ones")
    ap.add_argument("--full", action="store_true",
                    help="fuller run: 5 positions per gap, 48 outpaint frames, native resolution")
    ap.add_argument("--positions", type=int, help="gap positions per gap length and clip (default 2)")
    ap.add_argument("--unseen", action="store_true",
                    help="gap fill at every 4th moving position of each clip that no tuning run used "
                         "(instead of --positions; ~10 a clip)")
    ap.add_argument("--no-derived", dest="derived", action="store_false",
                    help="leave out the footage made from the shared clips (fid/footage.py: slow SD pans, "
                         "30 fps handheld, variable-rate and 10 fps phone clips), which runs by default")
    ap.add_argument("--outpaint-frames", type=int, help="frames outpainted per crop (default 24)")
    ap.add_argument("--max-frames", type=int, help="frames of each clip analysed (default 150)")
    ap.add_argument("--max-side", type=int, help="evaluate clips at most this wide (default 1280)")
    ap.add_argument("--speed-frames", type=int, default=13, help="1080p frames per speed run")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--ops", default="gap,extend,outpaint",
                    help="comma-separated fidelity cases to run (gap, extend, outpaint; default all), "
                         "e.g. --ops gap --no-speed to iterate on gap fill in about a minute")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    ap.add_argument("--check", action="store_true", help="exit 1 when a target does not hold")
    ap.add_argument("--_speed", help=argparse.SUPPRESS)
    ap.add_argument("--_speed-clip", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_speed-count", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._speed:
        print(json.dumps(speed_child(args._speed, args._speed_clip, args._speed_count)))
        return 0

    positions = None if args.unseen else args.positions or (5 if args.full else 2)
    out_frames = args.outpaint_frames or (48 if args.full else 24)
    max_frames = args.max_frames or (300 if args.full else 150)
    max_side = args.max_side or (10 ** 6 if args.full else 1280)
    shared = [] if args.only else sorted(p for p in SHARED_VIDEO.glob("*") if p.suffix.lower() in VIDEO_EXTS)
    paths = shared + [p.resolve() for p in args.clips]
    if not paths and not args.derived:
        raise SystemExit(f"no clips: none in {SHARED_VIDEO} and none given")
    mi = have_ffmpeg()
    if not mi:
        print("ffmpeg not found: the minterpolate baseline is skipped (install it with bench/setup.sh)",
              file=sys.stderr)

    ops = {o.strip() for o in args.ops.split(",") if o.strip()}
    unknown = ops - {"gap", "extend", "outpaint"}
    if unknown:
        raise SystemExit(f"--ops: unknown {', '.join(sorted(unknown))} (gap, extend, outpaint)")
    engine = build_engine()
    results = {}
    t_all = time.perf_counter()
    def measure(clip: Clip, t0: float) -> None:
        name = clip.name if clip.name not in results else str(clip.path)
        results[name] = {"size": clip.frames[0].shape[1::-1], "frames": len(clip.frames),
                         "gap": run_gap(engine, clip, positions, mi) if "gap" in ops else {},
                         "ext": run_extension(engine, clip) if "extend" in ops else {},
                         "out": run_outpaint(engine, clip, out_frames) if "outpaint" in ops else {}}
        print(f"{name}: {len(clip.frames)} frames at {clip.frames[0].shape[1]}x{clip.frames[0].shape[0]}, "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)

    for path in paths:
        t0 = time.perf_counter()
        measure(load_clip(path, max_frames, max_side), t0)
    if args.derived:
        t0 = time.perf_counter()
        for clip in derived_clips(max_frames):
            measure(clip, t0)
            t0 = time.perf_counter()

    speed = []
    if not args.no_speed:
        hd = [p for p in paths if media_io.probe(p).height >= 1080]
        src = hd[0] if hd else (paths or sorted(SHARED_VIDEO.glob("*.mp4")))[0]
        speed = run_speed(src, args.speed_frames, mi)
        for r in speed:
            r["source"] = src.name + ("" if hd else ", scaled up")
    print(f"total {time.perf_counter() - t_all:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "speed": speed}, default=float, indent=1))
    ok = report(results, speed, mi)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
