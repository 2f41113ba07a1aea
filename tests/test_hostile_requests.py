"""A corpus of malformed and hostile requests against a real server (real planner and media
policy): each is answered with its own 4xx status and error code in the one error shape, on
the same keep-alive connection, and nothing reaches the output folder or the job store. An
unexpected fault inside the server is a 500 with code ``internal``, its traceback in the log."""

from __future__ import annotations

import json
import logging
import select
import socket
from pathlib import Path

import pytest

from server.settings import load_settings
from tests.serverutil import CARPHONE, ThreadServer, copy_media, request_json, two_clip_timeline

MAX_BODY = 200_000


class Connection:
    """One HTTP/1.1 keep-alive connection on a raw socket: what is sent is exactly what is written."""

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        self.buffer = b""
        self.host = f"{host}:{port}"

    def close(self) -> None:
        self.sock.close()

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"the server closed the connection; got {self.buffer[:200]!r}")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection mid-body")
            self.buffer += chunk
        body, self.buffer = self.buffer[:n], self.buffer[n:]
        return body

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                chunked: bool = False) -> tuple[int, dict, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        payload = b""
        if body is not None and chunked:
            lines.append("Transfer-Encoding: chunked")
            step = 8192
            payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                               for i in range(0, len(body), step)) + b"0\r\n\r\n"
        elif body is not None:
            lines.append(f"Content-Length: {len(body)}")
            payload = body
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        status_line, *header_lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        received = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
        content = self._read_exactly(int(received.get("content-length", "0")))
        return int(status_line.split()[1]), received, content


@pytest.fixture
def served(tmp_path):
    media = tmp_path / "media"
    clip = copy_media(media, CARPHONE[0])
    outside = copy_media(tmp_path / "private", CARPHONE[0])
    (media / "clip.m3u8").write_text(f"#EXTM3U\n#EXTINF:4.0,\n{outside}\n#EXT-X-ENDLIST\n")
    (tmp_path / "empty.toml").write_text("")
    settings = load_settings(tmp_path / "empty.toml", output=str(tmp_path / "out"), media_roots=[str(media)],
                             max_body_bytes=MAX_BODY)
    return tmp_path, clip, outside, settings


def _request(clip: Path, url: str | None = None, **shotforge) -> dict:
    fields = {"operation": "extend", "track": 0, "frame": 10, "side": "tail", "frames": 5, **shotforge}
    return json.loads(request_json(two_clip_timeline(clip, CARPHONE[1], url=url), **fields))


def _with_url(clip: Path, url: str) -> bytes:
    """The request with every clip's media named ``url`` (set in the JSON: OTIO would cut a NUL)."""
    body = _request(clip)
    for item in body["tracks"]["children"][0]["children"]:
        for ref in item.get("media_references", {}).values():
            ref["target_url"] = url
    return json.dumps(body).encode()


def _edited(clip: Path, edit) -> bytes:
    body = _request(clip)
    edit(body)
    return json.dumps(body).encode()


def _first_clip(body: dict) -> dict:
    return body["tracks"]["children"][0]["children"][0]


def _rate_as(clip: Path, literal: str) -> bytes:
    """The timeline's rate written as a JSON literal Python's json would never write itself."""
    text = json.dumps(_request(clip))
    rate = repr(CARPHONE[1])
    assert rate in text
    return text.replace(rate, literal).encode()


def _nested(depth: int) -> dict:
    inner: dict = {}
    for _ in range(depth):
        inner = {"a": inner}
    return inner


def corpus(clip: Path, outside: Path) -> list[tuple[str, dict, int, str, str]]:
    """(name, request kwargs, status, code, words in the message)."""
    post = {"method": "POST", "path": "/v1/jobs", "headers": {"Content-Type": "application/json"}}
    nested_text = json.dumps(_request(clip))[:-1] + ', "deep": ' + "[" * 90_000 + "]" * 90_000 + "}"
    deep_meta = _request(clip)
    deep_meta["metadata"]["deep"] = "PLACEHOLDER"
    deep_text = json.dumps(deep_meta).replace('"PLACEHOLDER"', '{"a": ' * 900 + "{}" + "}" * 900)
    return [
        ("rate NaN", {**post, "body": _rate_as(clip, "NaN")}, 400, "malformed_otio", "NaN"),
        ("rate Infinity", {**post, "body": _rate_as(clip, "Infinity")}, 400, "malformed_otio", "Infinity"),
        ("rate -Infinity", {**post, "body": _rate_as(clip, "-Infinity")}, 400, "malformed_otio", "-Infinity"),
        ("rate 1e999", {**post, "body": _rate_as(clip, "1e999")}, 400, "malformed_otio", "1e999"),
        ("5000-digit frame", {**post, "body": _edited(clip, lambda b: b["metadata"]["shotforge"].update(
            frame=0)).replace(b'"frame": 0', b'"frame": ' + b"9" * 5000)}, 400, "malformed_otio", "too large"),
        ("duration NaN", {**post, "body": _edited(clip, lambda b: _first_clip(b)["source_range"]["duration"].update(
            value=float("nan")))}, 400, "malformed_otio", "NaN"),
        ("NUL in media path", {**post, "body": _with_url(clip, f"{clip}\x00.txt")}, 400, "malformed_otio",
         "NUL character"),
        ("newline in media path", {**post, "body": _with_url(clip, f"{clip}\n")}, 400, "media_path_invalid",
         "control character"),
        ("metadata 900 levels deep", {**post, "body": deep_text.encode()}, 400, "malformed_otio", "903 levels deep"),
        ("arrays 90000 deep", {**post, "body": nested_text.encode()}, 400, "malformed_otio", "levels deep"),
        ("not UTF-8", {**post, "body": b'{"name": "\xff\xfe\xfd"}'}, 400, "malformed_otio", "not UTF-8"),
        ("Latin-1 media path", {**post, "body": _with_url(clip, "/media/caf\u00e9.mov").replace(
            b"caf\\u00e9", b"caf\xe9")}, 400, "malformed_otio", "not UTF-8"),
        ("over the size limit", {**post, "body": b'{"x": "' + b"y" * MAX_BODY + b'"}'}, 413, "request_too_large",
         "bytes"),
        ("chunked over the limit", {**post, "body": b" " * (MAX_BODY + 10), "chunked": True}, 413,
         "request_too_large", "limit"),
        ("empty body", {**post, "body": b""}, 400, "malformed_otio", "OTIO"),
        ("null", {**post, "body": b"null"}, 400, "malformed_otio", "timeline"),
        ("a list", {**post, "body": b"[1, 2]"}, 400, "malformed_otio", "timeline"),
        ("cut short", {**post, "body": json.dumps(_request(clip)).encode()[:300]}, 400, "malformed_otio", "OTIO"),
        ("text/plain", {**post, "body": b"{}", "headers": {"Content-Type": "text/plain"}}, 415,
         "unsupported_media_type", "application/json"),
        ("no content type", {**post, "body": b"{}", "headers": {}}, 415, "unsupported_media_type", "none"),
        ("frame as text", {**post, "body": json.dumps(_request(clip, frame="x")).encode()}, 400, "bad_request",
         "frame"),
        ("negative frames", {**post, "body": json.dumps(_request(clip, frames=-5)).encode()}, 400, "bad_request",
         "frames"),
        ("negative track", {**post, "body": json.dumps(_request(clip, track=-1)).encode()}, 400, "bad_request",
         "track"),
        ("unknown operation", {**post, "body": json.dumps(_request(clip, operation="explode")).encode()}, 400,
         "bad_request", "explode"),
        ("shotforge not an object", {**post, "body": _edited(clip, lambda b: b["metadata"].update(shotforge=[1]))},
         400, "bad_request", "object"),
        ("network media", {**post, "body": _with_url(clip, "http://127.0.0.1:9/a.mov")}, 422, "media_not_file",
         "not a local file"),
        ("parent steps", {**post, "body": _with_url(clip, f"{clip.parent}/../private/{clip.name}")}, 403,
         "media_path_traversal", "'..'"),
        ("outside the roots", {**post, "body": _with_url(clip, str(outside))}, 403, "media_outside_roots",
         "outside"),
        ("a playlist in the root", {**post, "body": _with_url(clip, str(clip.parent / "clip.m3u8"))}, 422,
         "media_not_video", "HLS playlist"),
        ("no clip at frame", {**post, "body": json.dumps(_request(clip, frame=45)).encode()}, 422, "no_clip_at_frame",
         "45"),
        ("prompt over the setting", {**post, "body": json.dumps(_request(clip, prompt="p" * 4001)).encode()}, 422,
         "too_large", "setting max_prompt_chars"),
        ("8K canvas over the setting", {**post, "body": json.dumps(_request(
            clip, operation="outpaint", canvas=[8192, 8192])).encode()}, 422, "too_large", "setting max_canvas_side"),
        ("frames over the setting", {**post, "body": json.dumps(_request(clip, frames=9000)).encode()}, 422,
         "too_large", "setting max_frames"),
        ("idempotency key with a space", {**post, "body": json.dumps(_request(clip)).encode(),
                                          "headers": {**post["headers"], "Idempotency-Key": "a b"}}, 400,
         "bad_idempotency_key", "visible ASCII"),
        ("limit not a number", {"method": "GET", "path": "/v1/jobs?limit=abc"}, 422, "invalid_parameter", "limit"),
        ("state unknown", {"method": "GET", "path": "/v1/jobs?state=exploded"}, 422, "invalid_parameter", "state"),
        ("NUL in a job id", {"method": "GET", "path": "/v1/jobs/ab%00cd"}, 422, "invalid_parameter", "job_id"),
        ("unknown job", {"method": "GET", "path": "/v1/jobs/20990101-000000-abcdef"}, 404, "job_not_found",
         "no job"),
        ("unknown route", {"method": "GET", "path": "/v1/nothing"}, 404, "not_found", "Not Found"),
        ("wrong method", {"method": "PUT", "path": "/v1/jobs", "body": b"{}"}, 405, "method_not_allowed",
         "Method Not Allowed"),
    ]


def _nothing_written(tmp: Path, conn: Connection) -> None:
    assert sorted(p.name for p in (tmp / "out").iterdir()) == [".shotforge"]
    status, _, body = conn.request("GET", "/v1/jobs")
    assert status == 200 and json.loads(body)["jobs"] == []
    status, _, body = conn.request("GET", "/v1/health")
    assert json.loads(body)["queued"] == 0 and json.loads(body)["running"] == 0


def test_each_hostile_request_gets_its_4xx_on_the_same_connection_and_nothing_is_written(served):
    tmp, clip, outside, settings = served
    cases = corpus(clip, outside)
    assert len(cases) >= 30
    with ThreadServer(settings) as srv:
        conn = Connection(srv.url)
        try:
            for name, request, status, code, words in cases:
                got, headers, body = conn.request(**request)
                assert headers.get("content-type") == "application/json", (name, headers, body[:200])
                assert "error" in json.loads(body), (name, got, body[:200])
                error = json.loads(body)["error"]
                assert (got, error["code"]) == (status, code), (name, got, error)
                assert words in error["message"], (name, error)
                assert headers.get("connection") != "close", name
            _nothing_written(tmp, conn)
        finally:
            conn.close()


class _Exploding:
    """A renderer whose planner has a bug: what an unexpected error inside the server looks like."""

    def plan_job(self, timeline, request, *, locate_media=None):
        raise ZeroDivisionError("a bug in planning")


def test_an_unexpected_error_is_a_500_in_the_error_shape_with_the_traceback_in_the_log(served, caplog):
    tmp, clip, _, settings = served
    with ThreadServer(settings, _Exploding()) as srv, caplog.at_level(logging.ERROR, logger="shotforge"):
        conn = Connection(srv.url)
        try:
            status, headers, body = conn.request("POST", "/v1/jobs", json.dumps(_request(clip)).encode(),
                                                 {"Content-Type": "application/json"})
            assert status == 500 and headers["content-type"] == "application/json"
            error = json.loads(body)["error"]
            assert error["code"] == "internal" and "ZeroDivisionError" in error["message"]
            assert "a bug in planning" not in error["message"]  # details stay in the log
            _nothing_written(tmp, conn)  # and the connection is still open
        finally:
            conn.close()
    logged = [r for r in caplog.records if r.name == "shotforge.server" and r.exc_info]
    assert len(logged) == 1 and "POST /v1/jobs" in logged[0].getMessage()
    assert logged[0].exc_info[0] is ZeroDivisionError


@pytest.mark.parametrize("raw", [
    b"NOT-HTTP at all\r\n\r\n",
    b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Name: x\r\n\r\n",
    b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"y" * 1_000_000 + b"\r\n\r\n",
], ids=["not HTTP", "bad header", "a 1 MB header"])
def test_unreadable_http_is_answered_in_the_error_shape(served, raw):
    tmp, _, _, settings = served
    with ThreadServer(settings) as srv:
        conn = Connection(srv.url)
        try:
            for start in range(0, len(raw), 4096):  # stop sending once the server has answered
                if select.select([conn.sock], [], [], 0.01)[0]:
                    break
                conn.sock.sendall(raw[start:start + 4096])
            head = conn._read_until(b"\r\n\r\n").decode("latin-1")
            assert head.startswith("HTTP/1.1 400 ") and "content-type: application/json" in head.lower()
            length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
            assert json.loads(conn._read_exactly(length))["error"]["code"] == "bad_http"
        finally:
            conn.close()
        assert sorted(p.name for p in (tmp / "out").iterdir()) == [".shotforge"]
