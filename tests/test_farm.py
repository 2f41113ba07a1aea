"""The render farm on a real Ray cluster on 127.0.0.1: a head that takes no work and two worker
nodes (``ray start --address``, one CPU each, the second saying it has a GPU), token
authentication on (tests/farmutil.py).

Jobs run on the classical engine through the real server (``shotforge serve --ray``, then a
JobManager in this process where a test needs to hold a job at a chosen frame); every result is
compared frame by frame with the same request rendered in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from server import media_io, render
from server.jobs import JobManager, JobStore
from server.paths import MediaPolicy, PathMapper
from tests.farmutil import LocalCluster
from tests.serverutil import CARPHONE, REPO, RT, TR, ServerProcess, copy_media, request_json, two_clip_timeline, wait_job

RATE = CARPHONE[1]


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(workers=2, gpus_of_last=1) as c:
        yield c


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return copy_media(tmp_path_factory.mktemp("farm-media"), CARPHONE[0])


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    from tests.tiny_wan import save_tiny_pipeline

    root = tmp_path_factory.mktemp("farm-models")
    save_tiny_pipeline(root / "tiny-vace")
    return root


@pytest.fixture(scope="module")
def farm(cluster, models):
    """This process as a server's driver on the cluster (after the serve tests: one server's hosts at
    a time), its diffusers engine reading the tiny models folder."""
    saved = {k: os.environ.get(k) for k in cluster.driver_env()}
    os.environ.update(cluster.driver_env())  # before Ray is imported: it reads its auth mode then
    import ray

    from server.farm import Farm
    made = Farm(cluster.address, engine_settings={"models": str(models), "hf_cache": False})
    hosts = [h.actor.info.remote() for h in made.pool.hosts]
    ready, _ = ray.wait(hosts, num_returns=len(hosts), timeout=60)  # once the serve test's hosts freed the CPUs
    assert len(hosts) == 3 and len(ready) == 3, "the farm's engine hosts did not start"
    try:
        yield made
    finally:
        made.close()
        assert not ray.is_initialized()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def timeline(media: Path, gap: int = 10):
    """V1: clip A (media frames 0-39), a gap of ``gap`` frames, clip B (media frames 60-99); the
    media has 120 frames."""
    tl = two_clip_timeline(media, RATE, gap=20)
    tl.tracks[0][1].source_range = TR(RT(0, RATE), RT(gap, RATE))
    return tl


def requests(media: Path) -> list[str]:
    tl = timeline(media)
    return [request_json(tl, operation="fill_gap", track=0, frame=45),
            # 20 frames of handles after clip B, then 10 made
            request_json(tl, operation="extend", track=0, frame=55, side="tail", frames=30),
            request_json(tl, operation="outpaint", track=0, frame=5, canvas=[256, 144]),
            request_json(tl, operation="generate", track=0, range=[40, 48], prompt="a car at night"),
            # the shot's frames and mattes are read by the worker a chunk at a time, in any order
            request_json(tl, operation="inpaint", track=0, frame=10, region=[40, 30, 50, 40])]


def in_process(text: str, out: Path) -> dict:
    """The same request rendered in this process, the reference the farm's results must equal."""
    from otio_tools.request import parse_request_json

    timeline_, request = parse_request_json(text, "reference")
    return render.run_job(render.plan_job(timeline_, request), out).to_dict()


def frames_of(path: str) -> np.ndarray:
    info = media_io.probe(path)
    return np.stack(list(media_io.read_frames(path, range(info.frames), np.uint16)))


def same_result(got: dict, want: dict) -> None:
    """Placements equal but for the media folder, and every frame of the media equal."""
    def placed(result):
        return [{**p, "media": Path(p["media"]).name} for p in result["placements"]]

    assert placed(got) == placed(want)
    assert len(got["media"]) == len(want["media"])
    for a, b in zip(got["media"], want["media"]):
        fa, fb = frames_of(a), frames_of(b)
        assert fa.shape == fb.shape and np.array_equal(fa, fb), f"{a} differs from the in-process {b}"


# -- through `shotforge serve --ray` ----------------------------------------------------------------

def test_serve_ray_runs_a_batch_on_both_workers_and_reruns_a_job_after_a_server_crash(cluster, media, tmp_path):
    texts = requests(media)
    long_gap = request_json(timeline(media, gap=240), operation="fill_gap", track=0, frame=45)
    out = tmp_path / "out"
    env = cluster.driver_env()
    with ServerProcess(out, "--ray", cluster.address, env=env) as srv, srv.client() as c:
        health = c.get("/v1/health").json()
        assert health["backend"] == "ray"
        assert sorted(n["cpus"] for n in health["nodes"]) == [0, 1, 1]  # the head takes no work
        assert sorted(n["gpus"] for n in health["nodes"]) == [0, 0, 1]
        # a worker per CPU of each node, and one for the GPU
        assert sorted(n["workers"] for n in health["nodes"]) == [0, 1, 2] and health["workers"] == 3
        ids = [c.post("/v1/jobs", content=t, headers={"Content-Type": "application/json"}).json()["id"]
               for t in texts]
        # a second server on this data folder stops at its lock before it joins the cluster: no workers
        second = subprocess.run([sys.executable, "-m", "server.service_cli", "serve", *srv.args], cwd=REPO,
                                env=srv.env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 3, second.stdout + second.stderr
        assert f"another ShotForge server or watcher is using {out / '.shotforge'}" in second.stderr, second.stderr
        assert "render farm" not in second.stdout and "listening" not in second.stdout, second.stdout
        jobs = [wait_job(c, i, timeout=90) for i in ids]
        assert [j["state"] for j in jobs] == ["done"] * len(texts), jobs
        doctor = subprocess.run([sys.executable, "-m", "server.cli", "doctor", "--ray", cluster.address],
                                cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                                capture_output=True, text=True, timeout=120)
        assert "3 node(s), 3 ShotForge worker(s)" in doctor.stdout, doctor.stdout + doctor.stderr
        assert doctor.stdout.count("cpu on") == 2 and doctor.stdout.count("gpu on") == 1, doctor.stdout
        # the batch ran on both CPU workers (classical jobs go to a GPU worker only where no CPU one is)
        assert doctor.stdout.count("warm classical") == 2, doctor.stdout
        crashed = c.post("/v1/jobs", content=long_gap, headers={"Content-Type": "application/json"}).json()["id"]
        wait_job(c, crashed, states=("running",), timeout=30)
        srv.kill()  # the server dies mid-job: SIGKILL
    for n, (job, text) in enumerate(zip(jobs, texts)):
        same_result(job["result"], in_process(text, tmp_path / f"ref{n}"))

    with ServerProcess(out, "--ray", cluster.address, env=env) as srv, srv.client() as c:
        job = wait_job(c, crashed, timeout=90)
        assert job["state"] == "done", job
    store = JobStore(out / ".shotforge" / "jobs.sqlite")
    try:
        assert store.get(crashed).retries == 1  # re-run once, by the restarted server
        assert [store.get(i).retries for i in ids] == [0] * len(ids)
    finally:
        store.close()
    same_result(job["result"], in_process(long_gap, tmp_path / "ref-long"))


# -- a JobManager in this process, on the same cluster ----------------------------------------------

class Gate:
    """A renderer (``plan_job``/``run_job`` as server.render's) that holds the first job it runs at
    each of the points of its progress given, in turn, until the test lets it go (:meth:`go`); the
    frames still come from the farm."""

    def __init__(self, *hold_at: float):
        self.hold_at = hold_at
        self.reached = [threading.Event() for _ in hold_at]
        self.release = [threading.Event() for _ in hold_at]
        self._first = threading.Lock()
        self.plan_job, self.estimate_job = render.plan_job, render.estimate_job

    def wait(self, point: int = 0, timeout: float = 60.0) -> bool:
        return self.reached[point].wait(timeout)

    def go(self, point: int | None = None) -> None:
        """Let the job go on from ``point`` (None: from every point, now and later)."""
        for event in self.release if point is None else [self.release[point]]:
            event.set()

    def run_job(self, job_plan, out_dir, *, on_progress, **kw):
        hold = self._first.acquire(blocking=False)

        def progress(fraction, stage):
            on_progress(fraction, stage)
            for at, reached, release in zip(self.hold_at, self.reached, self.release):
                if hold and fraction >= at and not reached.is_set():
                    reached.set()
                    assert release.wait(30), "the test never let the job go"

        return render.run_job(job_plan, out_dir, on_progress=progress, **kw)


def manager_for(farm, tmp_path: Path, renderer) -> JobManager:
    store = JobStore(tmp_path / "jobs.sqlite")
    mgr = JobManager(store, tmp_path / "out", locate_media=MediaPolicy([], PathMapper([])).locate,
                     renderer=renderer, backend=farm, progress_interval=0.02)
    mgr.start()
    return mgr


def wait_state(mgr: JobManager, job_id: str, states: tuple[str, ...], timeout: float = 90.0):
    deadline = time.monotonic() + timeout
    while (row := mgr.get(job_id)).state not in states:
        assert time.monotonic() < deadline, f"job {job_id} still {row.state}: {row}"
        time.sleep(0.02)
    return row


def host_running(farm, job_call: bool = True):
    """The engine host that runs a call now, and its info."""
    import ray

    for host in list(farm.pool.hosts):
        info = ray.get(host.actor.info.remote())
        if bool(info["running"]) == job_call:
            return host, info
    return None, None


def test_cancel_reaches_the_worker_and_stops_it_within_a_second(farm, media, tmp_path):
    import ray

    mgr = manager_for(farm, tmp_path, render)
    try:
        job = mgr.submit(request_json(timeline(media, gap=600), operation="fill_gap", track=0, frame=45))
        deadline = time.monotonic() + 60
        while (row := mgr.get(job.id)).progress < 0.2:
            assert time.monotonic() < deadline and not row.terminal, row
            time.sleep(0.02)
        host, info = host_running(farm)
        assert host is not None, "no worker is running the job"
        started = time.monotonic()
        mgr.cancel(job.id)
        while ray.get(host.actor.info.remote())["running"]:
            assert time.monotonic() - started < 1.0, "the worker still runs the canceled call after 1 s"
            time.sleep(0.02)
        row = wait_state(mgr, job.id, ("canceled",), timeout=5)
        assert row.error["code"] == "canceled" and not Path(row.out_dir).exists()
        assert ray.get(host.actor.info.remote())["calls_done"] == info["calls_done"] + 1
    finally:
        mgr.stop()
        mgr.store.close()


def test_diffusers_jobs_run_on_the_gpu_worker_which_keeps_its_model_warm(farm, media, models, tmp_path):
    import ray
    import torch

    from server.settings import activate, load_settings

    # the server plans a diffusers job from the model's own facts (context frames, native size)
    (tmp_path / "none.toml").write_text("")
    activate(load_settings(tmp_path / "none.toml", models=str(models), hf_cache=False))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the worker (Ray gives a host without CPUs one thread): the same sums
    mgr = manager_for(farm, tmp_path, render)
    texts = [request_json(timeline(media), engine="diffusers", operation="generate", track=0, range=[40, 47],
                          prompt="a car at night", steps=2, seed=seed) for seed in (3, 4)]
    try:
        rows = []
        for text in texts:  # one after the other: the second finds the model warm
            rows.append(wait_state(mgr, mgr.submit(text).id, ("done", "failed", "canceled")))
        assert [r.state for r in rows] == ["done", "done"], rows
        gpu = next(h for h in farm.pool.hosts if h.kind == "gpu")
        info = ray.get(gpu.actor.info.remote())
        assert info["warm"] == ["diffusers:tiny-vace"] and info["calls_done"] == 2
        assert all(r.result["engine"] == "diffusers" and r.result["model"] == "tiny-vace" for r in rows)
        takes = [mgr.takes.get(r.result["takes"][0])[0] for r in rows]
        assert [(t.engine, t.model, t.seed, t.steps) for t in takes] == [("diffusers", "tiny-vace", 3, 2),
                                                                          ("diffusers", "tiny-vace", 4, 2)]
        assert takes[0].model_revision.startswith("sha256:")  # the model folder's fingerprint
        for n, (row, text) in enumerate(zip(rows, texts)):
            same_result(row.result, in_process(text, tmp_path / f"ref{n}"))
    finally:
        mgr.stop()
        mgr.store.close()
        torch.set_num_threads(threads)
        activate(None)


def _process_gone(pid: int, timeout: float) -> bool:
    """Whether process ``pid`` (of this machine) has ended, a zombie counting as ended, within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def test_a_canceled_call_whose_engine_does_not_stop_has_its_worker_ended_and_replaced(farm, media, tmp_path,
                                                                                      monkeypatch):
    import ray

    from tests.farmutil import STALL_S, StallingHost

    monkeypatch.setattr(farm, "cancel_grace", 3.0)
    plain_class = farm.pool._host_class()
    held = farm.pool.acquire("classical", threading.Event(), lambda: None)  # both jobs below go to the other node
    mgr = manager_for(farm, tmp_path, render)
    made: list = []
    try:
        farm.pool._actor_class = ray.remote(StallingHost)
        farm.pool.replace(next(h for h in farm.pool.hosts if h.kind == "cpu" and h is not held))
        stalling = next(h for h in farm.pool.hosts if h.kind == "cpu" and h is not held)
        made.append(stalling)
        stuck = ray.get(stalling.actor.info.remote(), timeout=60)
        job = mgr.submit(request_json(timeline(media, gap=200), operation="fill_gap", track=0, frame=45))
        deadline = time.monotonic() + 60
        while not ray.get(stalling.actor.in_long_step.remote(), timeout=10):
            assert time.monotonic() < deadline and not (row := mgr.get(job.id)).terminal, row
            time.sleep(0.02)
        canceled = time.monotonic()
        mgr.cancel(job.id)
        row = wait_state(mgr, job.id, ("canceled",), timeout=5)
        assert row.error["code"] == "canceled" and not Path(row.out_dir).exists()
        # reported canceled while its engine goes on there: the job did not wait for its worker
        assert ray.get(stalling.actor.info.remote(), timeout=5)["running"]
        short = request_json(timeline(media, gap=20), operation="fill_gap", track=0, frame=45)
        after = wait_state(mgr, mgr.submit(short).id, ("done", "failed", "canceled"))
        assert after.state == "done", after.error
        # the stuck worker was ended well before its engine's step would have, and the next job ran on
        # a new worker put on the same node, whose first call it was
        assert _process_gone(stuck["pid"], timeout=5), "the worker whose engine ignored the cancel still runs"
        assert time.monotonic() - canceled < STALL_S / 2
        fresh = next(h for h in farm.pool.hosts if h.kind == "cpu" and h is not held)
        made.append(fresh)
        info = ray.get(fresh.actor.info.remote(), timeout=10)
        assert fresh is not stalling and info["pid"] != stuck["pid"] and info["node_id"] == stuck["node_id"]
        assert info["calls_done"] == 1 and info["running"] == []
        same_result(after.result, in_process(short, tmp_path / "ref-short"))
    finally:
        farm.pool._actor_class = plain_class
        for host in made:  # the next tests' worker on that node is a plain one again
            if host in farm.pool.hosts:
                farm.pool.replace(host)
        farm.pool.release(held)
        mgr.stop()
        mgr.store.close()


def test_a_worker_node_killed_mid_job_reruns_the_call_elsewhere_and_the_media_is_made_once(farm, media, tmp_path):
    gate = Gate(0.3)
    mgr = manager_for(farm, tmp_path, gate)
    long_gap = request_json(timeline(media, gap=240), operation="fill_gap", track=0, frame=45)
    other = request_json(timeline(media, gap=60), operation="fill_gap", track=0, frame=45)
    try:
        first = mgr.submit(long_gap)
        assert gate.wait(), mgr.get(first.id)
        host, info = host_running(farm)
        assert host is not None, "the held job's worker has finished its call already"
        os.kill(info["raylet_pid"], signal.SIGKILL)  # the machine goes: its raylet and the worker on it
        os.kill(info["pid"], signal.SIGKILL)
        second = mgr.submit(other)  # a job submitted meanwhile is not disturbed
        gate.go()
        done = [wait_state(mgr, j.id, ("done", "failed", "canceled")) for j in (first, second)]
        assert [r.state for r in done] == ["done", "done"], [r.error for r in done]
        assert [r.retries for r in done] == [1, 0]
        farm.pool.refresh()  # the node table says the node died: its hosts are gone from the pool
        assert farm.pool.hosts and all(h.node_id != host.node_id for h in farm.pool.hosts), farm.pool.hosts
    finally:
        gate.go()
        mgr.stop()
        mgr.store.close()
    same_result(done[0].result, in_process(long_gap, tmp_path / "ref-long"))
    same_result(done[1].result, in_process(other, tmp_path / "ref-other"))


def test_a_worker_lost_more_times_than_the_retries_fails_the_job_with_worker_lost_and_no_media(farm, media,
                                                                                             tmp_path, monkeypatch):
    from server.farm import pool

    # last in the module: it leaves the nodes it killed workers on without a host for a while (shorter
    # than a studio's: this cluster says a node died within a second)
    monkeypatch.setattr(pool, "_SUSPECT_S", 2.0)
    gate = Gate(0.3, 0.6)  # the first run held at 30 %, its re-run at 60 %
    mgr = manager_for(farm, tmp_path, gate)
    saved, farm.max_retries = farm.max_retries, 1
    try:
        job = mgr.submit(request_json(timeline(media, gap=240), operation="fill_gap", track=0, frame=45))
        lost = []
        for point in (0, 1):
            assert gate.wait(point), mgr.get(job.id)
            host, info = host_running(farm)
            assert host is not None and host not in lost, "the held job's worker has finished its call already"
            os.kill(info["pid"], signal.SIGKILL)  # the worker process only: its node stays
            lost.append(host)
            gate.go(point)
        row = wait_state(mgr, job.id, ("done", "failed", "canceled"))
        assert row.state == "failed" and row.error["code"] == "worker_lost", row
        assert "lost 2 times" in row.error["message"] and lost[1].node_id[:12] in row.error["message"], row.error
        assert row.retries == 1  # the one re-run, counted in the job's record
        assert not Path(row.out_dir).exists() and list((tmp_path / "out").iterdir()) == []  # nothing half-written
        assert not any(h in farm.pool.hosts for h in lost)
        farm.max_retries = saved
        # the next job runs (on the GPU host, a classical job's worker of last resort, or on a host put back)
        after = wait_state(mgr, mgr.submit(request_json(timeline(media, gap=20), operation="fill_gap", track=0,
                                                        frame=45)).id, ("done", "failed", "canceled"))
        assert after.state == "done" and after.retries == 0, after.error
    finally:
        farm.max_retries = saved
        gate.go()
        mgr.stop()
        mgr.store.close()
