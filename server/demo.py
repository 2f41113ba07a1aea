"""``shotforge demo``: the main job on the embedded default, from the bundled sample.

Builds a small 29.97 drop-frame timeline (starting at 01:00:00;00) from the bundled clip, with a
gap cut into the middle, writes one request per operation and renders each on the classical
engine, printing where the results are.
"""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from otio_tools import read_request
from server.progress import ProgressBar
from server.render import plan_job, run_job

SAMPLE = Path(__file__).resolve().parent / "samples" / "carphone_176x144_2997.mp4"
RATE = 30000 / 1001


def demo_timeline() -> otio.schema.Timeline:
    """V1: sample frames 0-39, a 10-frame gap, sample frames 50-89 (the gap is the missing 40-49)."""
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline(name="ShotForge demo", global_start_time=rt(107892, RATE))  # 01:00:00;00
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    available = tr(rt(0, RATE), rt(120, RATE))
    for name, first in (("carphone A", 0), ("carphone B", 50)):
        if first:
            track.append(otio.schema.Gap(source_range=tr(rt(0, RATE), rt(10, RATE))))
        track.append(otio.schema.Clip(
            name=name, source_range=tr(rt(first, RATE), rt(40, RATE)),
            media_reference=otio.schema.ExternalReference(SAMPLE.as_uri(), available_range=available)))
    return timeline


DEMO_REQUESTS = {
    "fill_gap": {"operation": "fill_gap", "track": 0, "frame": 45},
    "extend_tail": {"operation": "extend", "track": 0, "frame": 60, "side": "tail", "frames": 48},
    "outpaint_9x16": {"operation": "outpaint", "track": 0, "frame": 10, "canvas": [144, 256]},
    "generate": {"operation": "generate", "track": 0, "range": [100, 148],
                 "prompt": "a car drives along a coast road at dusk"},
}


def run_demo(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for name, shotforge in DEMO_REQUESTS.items():
        timeline = demo_timeline()
        timeline.metadata["shotforge"] = {"version": 1, "engine": "classical", "seed": 7, **shotforge}
        request_path = out / "requests" / f"{name}.otio"
        request_path.parent.mkdir(exist_ok=True)
        otio.adapters.write_to_file(timeline, str(request_path))
        timeline, request = read_request(str(request_path))
        with ProgressBar(f"{name:>14}") as bar:
            outcome = run_job(plan_job(timeline, request), out / name, on_progress=bar.update)
        for placement in outcome.placements:
            print(f"  {name}: {placement['frames']} frames of {placement['media']} "
                  f"(from frame {placement['source_in']}) at record frame {placement['record_frame']} "
                  f"on video track {placement['track']}")
        print(f"  {name}: timeline with the result spliced in: {outcome.otio}")
    print(f"\nDemo requests are in {out / 'requests'}; re-run one with: shotforge render REQUEST --out DIR")
    return 0
