"""Load test for the render server: N small real jobs from C concurrent clients.

    python bench/load_test.py                      # starts its own server on a free port
    python bench/load_test.py --url http://127.0.0.1:8765 --token T --media /path/with/the/sample

Each client submits its share of the jobs as fast as it can (a 429 "queue full" is retried
after a short wait, as a plugin would), then everything is followed until it ends. It prints
the throughput (jobs finished per second, first submit to last job ending), the p50/p99
latency of accepted submissions (POST /v1/jobs → 202, which includes validating the request
and probing its media), how many submissions were refused with 429, and the final state of
every job. Exit status 0 only when every job reached a terminal state (done/failed/canceled).

The jobs are small real renders of the bundled 176x144 sample with the classical engine: a
10-frame gap fill, a 6-frame tail extension and a 6-frame generate, in turn.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import opentimelineio as otio

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "server" / "samples" / "carphone_176x144_2997.mp4"
RATE = 30000 / 1001
TERMINAL = {"done", "failed", "canceled"}


def requests_for(media: Path) -> list[str]:
    rt, tr = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline(name="load test")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    for name, first in (("A", 0), ("B", 65)):
        if first:
            track.append(otio.schema.Gap(source_range=tr(rt(0, RATE), rt(10, RATE))))
        track.append(otio.schema.Clip(name=name, source_range=tr(rt(first, RATE), rt(55, RATE)),
                                      media_reference=otio.schema.ExternalReference(
                                          media.as_uri(), available_range=tr(rt(0, RATE), rt(120, RATE)))))
    out = []
    for meta in ({"operation": "fill_gap", "frame": 60},
                 {"operation": "extend", "frame": 70, "side": "tail", "frames": 6},
                 {"operation": "generate", "range": [130, 136], "prompt": "load test"}):
        timeline.metadata["shotforge"] = {"version": 1, "track": 0, "engine": "classical", **meta}
        out.append(otio.adapters.write_to_string(timeline, "otio_json"))
    return out


def start_server(workdir: Path, max_queue: int) -> tuple[subprocess.Popen, str]:
    (workdir / "none.toml").write_text("")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(workdir / "none.toml")}
    env.pop("SHOTFORGE_TOKEN", None)
    proc = subprocess.Popen([sys.executable, "-m", "server.service_cli", "serve", "--port", "0",
                             "--output", str(workdir / "out"), "--media-root", str(workdir / "media"),
                             "--max-queue", str(max_queue), "--log-level", "warning"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "listening on" in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining
            return proc, line.split("listening on ", 1)[1].split()[0]
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit(f"the server did not start (exit {proc.poll()})")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--token")
    parser.add_argument("--media", help="with --url: a folder the server may read, to copy the sample into")
    parser.add_argument("--max-queue", type=int, default=256, help="queue bound of the server this script starts")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for all jobs to end")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="shotforge-load-"))
    proc = None
    try:
        media_dir = Path(args.media) if args.media else workdir / "media"
        media_dir.mkdir(parents=True, exist_ok=True)
        media = media_dir / SAMPLE.name
        if not media.exists():
            shutil.copyfile(SAMPLE, media)
        if args.url:
            url = args.url
        else:
            proc, url = start_server(workdir, args.max_queue)
        bodies = requests_for(media)
        headers = {"Content-Type": "application/json"}
        if args.token:
            headers["Authorization"] = f"Bearer {args.token}"

        latencies: list[float] = []
        ids: list[str] = []
        refused = {"429": 0}
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(args.jobs))

        def client() -> None:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
                while True:
                    with lock:
                        n = next(counter, None)
                    if n is None:
                        return
                    while True:
                        t0 = time.perf_counter()
                        r = c.post("/v1/jobs", content=bodies[n % len(bodies)])
                        elapsed = time.perf_counter() - t0
                        if r.status_code == 429:
                            with lock:
                                refused["429"] += 1
                            time.sleep(min(float(r.headers.get("retry-after", 1)), 0.5))
                            continue
                        with lock:
                            if r.status_code == 202:
                                latencies.append(elapsed)
                                ids.append(r.json()["id"])
                            else:
                                errors.append(f"{r.status_code} {r.text[:200]}")
                        break

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        submitted = time.perf_counter()

        states: dict[str, str] = {}
        wanted = set(ids)
        with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
            deadline = time.monotonic() + args.timeout
            while time.monotonic() < deadline:
                jobs = c.get("/v1/jobs", params={"limit": 1000}).json()["jobs"]
                states.update({j["id"]: j["state"] for j in jobs if j["id"] in wanted})
                if len(states) == len(wanted) and all(s in TERMINAL for s in states.values()):
                    break
                time.sleep(0.25)
        ended = time.perf_counter()

        tally: dict[str, int] = {}
        for s in states.values():
            tally[s] = tally.get(s, 0) + 1
        missing = len(wanted) - len(states)
        all_terminal = missing == 0 and all(s in TERMINAL for s in states.values()) and len(ids) == args.jobs
        print(f"jobs submitted      {len(ids)} of {args.jobs} from {args.clients} clients"
              f" ({refused['429']} x 429 queue full, retried; {len(errors)} other errors)")
        print(f"submit phase        {submitted - started:.2f} s")
        print(f"submit latency      p50 {percentile(latencies, 50) * 1000:.1f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.1f} ms, max {max(latencies, default=0) * 1000:.1f} ms"
              + (f", mean {statistics.mean(latencies) * 1000:.1f} ms" if latencies else ""))
        print(f"throughput          {len(ids) / (ended - started):.2f} jobs/s ({ended - started:.1f} s for all)")
        print(f"final states        {dict(sorted(tally.items()))}" + (f", {missing} not found" if missing else ""))
        print(f"all terminal        {'yes' if all_terminal else 'NO'}")
        for e in errors[:5]:
            print(f"error: {e}")
        return 0 if all_terminal and not errors else 1
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
