"""The Resolve plugin's HTTP client against a stand-in server that loses its first answer."""

from __future__ import annotations

import json
import socket
import threading

from resolve_helpers import PLUGIN  # noqa: F401 (puts the plugin's package on sys.path)

from shotforge_resolve.client import Client  # noqa: E402


def _lossy_server(seen: list[dict]) -> tuple[socket.socket, threading.Thread]:
    """Answers a POST with the same job id for the same Idempotency-Key, but closes the first
    connection without answering (the plugin's first POST times out or breaks)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    jobs: dict[str, str] = {}

    def serve() -> None:
        for attempt in range(2):
            conn, _ = listener.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
                length = int(headers.get("Content-Length", "0"))
                while len(body) < length:
                    body += conn.recv(65536)
                seen.append({"key": headers.get("Idempotency-Key"), "body": json.loads(body)})
                if attempt == 0:
                    continue  # the answer is lost: the connection closes with nothing sent
                job = jobs.setdefault(headers["Idempotency-Key"], "job-%d" % (len(jobs) + 1))
                answer = json.dumps({"id": job}).encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                             b"Connection: close\r\n\r\n%s" % (len(answer), answer))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, thread


def test_a_lost_answer_is_asked_again_with_the_same_idempotency_key():
    seen: list[dict] = []
    listener, thread = _lossy_server(seen)
    try:
        client = Client("http://127.0.0.1:%d" % listener.getsockname()[1], timeout=5)
        assert client.submit({"OTIO_SCHEMA": "Timeline.1", "name": "cut"}) == "job-1"
        thread.join(5)
    finally:
        listener.close()
    assert len(seen) == 2 and seen[0]["body"] == seen[1]["body"] == {"OTIO_SCHEMA": "Timeline.1", "name": "cut"}
    assert seen[0]["key"] and seen[0]["key"] == seen[1]["key"] and seen[0]["key"].startswith("shotforge-resolve-")


def test_each_submit_has_its_own_key():
    keys = set()
    for _ in range(2):
        seen: list[dict] = []
        listener, thread = _lossy_server(seen)
        try:
            Client("http://127.0.0.1:%d" % listener.getsockname()[1], timeout=5).submit({"n": 1})
            thread.join(5)
        finally:
            listener.close()
        keys.add(seen[0]["key"])
    assert len(keys) == 2


def test_a_lost_rerender_answer_is_asked_again_with_the_same_key():
    seen: list[dict] = []
    listener, thread = _lossy_server(seen)
    try:
        client = Client("http://127.0.0.1:%d" % listener.getsockname()[1], timeout=5)
        assert client.rerender("take-7", {"seed": 8}) == "job-1"
        thread.join(5)
    finally:
        listener.close()
    assert len(seen) == 2 and seen[0]["body"] == seen[1]["body"] == {"seed": 8}
    assert seen[0]["key"] and seen[0]["key"] == seen[1]["key"] and seen[0]["key"].startswith("shotforge-resolve-")
