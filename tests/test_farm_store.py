"""The farm's parts that need no cluster: the job store's ``retries`` (and a database from before
it), the restart policy with a farm, the ``ray`` settings, health without a farm, and Ray kept
out of the import path."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from server.jobs import JobManager, JobRow, JobStore, new_job_id
from server.settings import load_settings
from tests.serverutil import REPO

# the jobs table as it was before `retries` (and before the idempotency columns)
_OLD_SCHEMA = """
CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0, stage TEXT NOT NULL DEFAULT '', error_code TEXT, error_message TEXT,
    result TEXT, operation TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'http', out_dir TEXT NOT NULL, base_dir TEXT, request TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, started REAL, finished REAL, updated REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 1);
"""


def _row(tmp_path, state="queued") -> JobRow:
    now = time.time()
    job_id = new_job_id()
    return JobRow(id=job_id, state=state, progress=0.0, stage=state, error=None, result=None, operation="fill_gap",
                  description="d", source="http", out_dir=str(tmp_path / "out" / job_id), base_dir=None,
                  request="{}", meta={}, created=now, started=None, finished=None, updated=now, version=1)


def test_a_database_from_before_retries_opens_with_its_jobs_at_zero_retries(tmp_path):
    path = tmp_path / "jobs.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_OLD_SCHEMA)
        db.execute("INSERT INTO jobs (id, state, out_dir, request, created, updated) VALUES "
                   "('old-1', 'done', '/x', '{}', 1, 1)")
    store = JobStore(path)
    try:
        assert store.get("old-1").retries == 0 and store.list()[0].retries == 0
        assert store.retried("old-1").retries == 1
        assert store.retried("nope") is None
    finally:
        store.close()
    store = JobStore(path)  # opened again: the column is there, nothing added twice
    try:
        assert store.get("old-1").retries == 1
    finally:
        store.close()


class _Cluster:
    """What JobManager reads of a farm before any job runs: its size and its retry bound."""

    max_retries = 2

    def __init__(self):
        self.listeners = []

    def slots(self) -> int:
        return 3

    def on_capacity(self, callback) -> None:
        self.listeners.append(callback)


def test_with_a_farm_a_job_the_server_died_under_is_queued_again_until_its_retries_are_spent(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    fresh, spent = _row(tmp_path), _row(tmp_path)
    for row in (fresh, spent):
        store.insert(row)
        (tmp_path / "out" / row.id).mkdir(parents=True)
        (tmp_path / "out" / row.id / ".media.unsigned.mov").write_bytes(b"half")
    store.claim_next(), store.claim_next()  # both running when the server died
    store.retried(spent.id), store.retried(spent.id)
    farm = _Cluster()
    mgr = JobManager(store, tmp_path / "out", locate_media=lambda *a: a[0], backend=farm)
    mgr._work = lambda: None  # only the recovery is looked at here: no job is taken
    interrupted = mgr.start()
    try:
        assert [r.id for r in interrupted] == [spent.id]
        assert store.get(fresh.id).state == "queued" and store.get(fresh.id).retries == 1
        failed = store.get(spent.id)
        assert failed.state == "failed" and failed.error["code"] == "interrupted" and failed.retries == 2
        assert not (tmp_path / "out" / fresh.id).exists() and not (tmp_path / "out" / spent.id).exists()
        assert mgr.workers == 3 and len(mgr._threads) == 3  # one job thread per worker of the cluster
        farm.listeners[0](5)  # two more workers joined
        assert mgr.workers == 5 and len(mgr._threads) == 5
    finally:
        mgr.stop()
        store.close()


def test_without_a_farm_a_job_the_server_died_under_still_fails_as_interrupted(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    row = _row(tmp_path)
    store.insert(row)
    store.claim_next()
    mgr = JobManager(store, tmp_path / "out", locate_media=lambda *a: a[0])
    mgr._work = lambda: None
    try:
        assert [r.id for r in mgr.start()] == [row.id]
        assert store.get(row.id).state == "failed" and store.get(row.id).retries == 0
    finally:
        mgr.stop()
        store.close()


def test_ray_settings_from_flags_environment_and_a_ray_section(tmp_path, monkeypatch):
    config = tmp_path / "server.toml"
    config.write_text('[ray]\naddress = "10.0.0.5:6379"\nclassical_cpus = 2\ncancel_grace_s = 5\n')
    settings = load_settings(config)
    assert (settings.ray_address, settings.ray_classical_cpus, settings.ray_max_retries) == ("10.0.0.5:6379", 2, 3)
    (tmp_path / "plain.toml").write_text("")
    assert settings.ray_cancel_grace_s == 5 and load_settings(tmp_path / "plain.toml").ray_cancel_grace_s == 30
    config.write_text('[ray]\ncancel_grace_s = 0\n')  # a worker ended at once would reload its model every cancel
    with pytest.raises(Exception, match="cancel_grace_s"):
        load_settings(config)
    config.write_text('[ray]\naddress = "10.0.0.5:6379"\nclassical_cpus = 2\n')
    monkeypatch.setenv("SHOTFORGE_RAY_ADDRESS", "auto")
    assert load_settings(config).ray_address == "auto"
    assert load_settings(config, ray_address="10.0.0.9:6379").ray_address == "10.0.0.9:6379"
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.delenv("SHOTFORGE_RAY_ADDRESS")
    assert load_settings(tmp_path / "empty.toml").ray_address is None


def test_health_says_local_without_a_farm_and_ray_stays_out_of_the_import_path(tmp_path):
    code = ("import sys\n"
            "from fastapi.testclient import TestClient\n"
            "from server.app import create_app\n"
            "from server.settings import load_settings\n"
            "import server.cli, server.service_cli, server.farm\n"
            f"s = load_settings({str(tmp_path / 'none.toml')!r}, output={str(tmp_path / 'out')!r})\n"
            "with TestClient(create_app(s), base_url='http://127.0.0.1') as c:\n"
            "    h = c.get('/v1/health').json()\n"
            "print(h['backend'], h['nodes'], 'ray' in sys.modules)\n")
    (tmp_path / "none.toml").write_text("")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["local", "[]", "False"], done.stdout + done.stderr


def test_serve_with_a_ray_address_where_no_cluster_runs_exits_5_naming_it(tmp_path):
    env = {"PATH": "", "HOME": str(tmp_path), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    done = subprocess.run([sys.executable, "-m", "server.service_cli", "serve", "--port", "0", "--output",
                           str(tmp_path / "out"), "--ray", "127.0.0.1:1"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**env, "PYTHONPATH": str(REPO), "RAY_AUTH_MODE": "disabled"})
    assert done.returncode == 5, done.stdout + done.stderr
    assert "cannot join the Ray cluster at 127.0.0.1:1" in done.stderr


def test_health_lists_the_farm_nodes_only_to_token_holders_when_the_server_has_a_token(tmp_path):
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import load_settings

    class Cluster:  # what the farm backend answers for its nodes
        def nodes(self):
            return [{"node_id": "n1", "address": "192.168.1.21", "hostname": "gpu1", "cpus": 16, "gpus": 1,
                     "workers": 1}]

    (tmp_path / "none.toml").write_text("")
    token = "a-studio-token-0123456789"
    settings = load_settings(tmp_path / "none.toml", output=str(tmp_path / "out"), token=token)
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        client.app.state.shotforge.manager.backend = Cluster()
        bare = client.get("/v1/health").json()
        wrong = client.get("/v1/health", headers={"Authorization": "Bearer not-the-token-at-all"}).json()
        held = client.get("/v1/health", headers={"Authorization": f"Bearer {token}"}).json()
    assert bare["backend"] == wrong["backend"] == held["backend"] == "ray"
    assert bare["nodes"] == wrong["nodes"] == []
    assert [node["address"] for node in held["nodes"]] == ["192.168.1.21"]
