"""The render farm's throughput and per-job overhead, on the classical engine, in one run.

A real Ray cluster on 127.0.0.1 (tests/farmutil.py: a head taking no work, worker nodes of one
CPU each, token authentication on) and a JobManager in this process as the server. The same
batch of gap fills (``--jobs`` jobs of ``--frames`` frames of the 176x144 carphone clip) runs:

1. in-process, one job at a time (the server without a farm, ``workers = 1``);
2. on the farm with one worker node;
3. on the farm with two worker nodes (the second joins while the server runs).

Printed: jobs per minute of each, the farm's time per job over the in-process time (its
overhead: frames through the object store, the worker's stream), and two workers' jobs per
minute over one's. Run: ``.venv/bin/python bench/farm.py`` (``--jobs 8 --frames 60`` by default).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server.jobs import JobManager, JobStore  # noqa: E402
from server.paths import MediaPolicy, PathMapper  # noqa: E402
from tests.farmutil import LocalCluster  # noqa: E402
from tests.serverutil import CARPHONE, copy_media, request_json  # noqa: E402
from tests.test_farm import timeline  # noqa: E402


def run_batch(mgr: JobManager, texts: list[str]) -> float:
    """Seconds from submitting the batch to its last job done."""
    start = time.monotonic()
    ids = [mgr.submit(text).id for text in texts]
    while True:
        rows = [mgr.get(i) for i in ids]
        failed = [r for r in rows if r.state in ("failed", "canceled")]
        if failed:
            raise SystemExit(f"job failed: {failed[0].error}")
        if all(r.state == "done" for r in rows):
            return time.monotonic() - start
        time.sleep(0.01)


def manager(work: Path, name: str, backend=None) -> JobManager:
    mgr = JobManager(JobStore(work / f"{name}.sqlite"), work / name,
                     locate_media=MediaPolicy([], PathMapper([])).locate, backend=backend)
    mgr.start()
    return mgr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=8, help="gap fills per batch")
    parser.add_argument("--frames", type=int, default=60, help="frames each gap fill makes")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="sf-bench-farm-"))
    media = copy_media(work / "media", CARPHONE[0])
    texts = [request_json(timeline(media, gap=args.frames), operation="fill_gap", track=0, frame=45, seed=n)
             for n in range(args.jobs)]

    local = manager(work, "local")
    run_batch(local, texts[:1])  # imports and first-use costs out of the figures
    seconds = {"in-process": run_batch(local, texts)}
    local.stop()

    with LocalCluster(workers=1) as cluster:
        os.environ.update(cluster.driver_env())  # before Ray is imported
        from server.farm import Farm

        farm = Farm(cluster.address)
        mgr = manager(work, "farm", farm)
        run_batch(mgr, texts[:1])  # the worker's process start and its engine's first use
        seconds["farm, 1 worker"] = run_batch(mgr, texts)
        cluster.add_worker()
        farm.pool.refresh()
        run_batch(mgr, texts[:2])  # the new worker warm
        assert farm.slots() == 2 and mgr.workers == 2, (farm.slots(), mgr.workers)
        seconds["farm, 2 workers"] = run_batch(mgr, texts)
        mgr.stop()
        farm.close()

    print(f"{args.jobs} gap fills of {args.frames} frames (176x144), classical engine, {os.cpu_count()} CPU(s)")
    for name, took in seconds.items():
        print(f"  {name:16s} {took:6.2f} s  {60 * args.jobs / took:6.1f} jobs/min  {took / args.jobs:.3f} s/job")
    print(f"farm 1 worker / in-process, time per job: {seconds['farm, 1 worker'] / seconds['in-process']:.2f}")
    print(f"farm 2 workers / 1 worker, jobs per minute: {seconds['farm, 1 worker'] / seconds['farm, 2 workers']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
