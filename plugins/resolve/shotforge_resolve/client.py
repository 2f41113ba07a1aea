"""A small HTTP client for the ShotForge server (stdlib only: urllib, json, threading).

Routes (DESIGN.md): POST /v1/jobs, GET /v1/jobs/{id}, GET /v1/jobs/{id}/events (SSE),
DELETE /v1/jobs/{id}, GET /v1/health. Errors come back as {"error": {"code", "message"}}.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid

try:  # Resolve's Python is 3.6+; these exist there
    from urllib.error import HTTPError, URLError
    from urllib.parse import urlsplit
    from urllib.request import Request, urlopen
except ImportError:  # pragma: no cover
    raise

from .errors import JobCanceled, JobFailed, ServerDownError, ServerError

DEFAULT_URL = "http://127.0.0.1:8765"
TERMINAL = ("done", "failed", "canceled")


def start_hint(base_url):
    """How to start the server at ``base_url``, in one line an editor can paste in a terminal."""
    parts = urlsplit(base_url if "//" in base_url else "http://" + base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 8765
    command = "shotforge serve"
    if host not in ("127.0.0.1", "localhost"):
        command += " --host {}".format(host)
    if port != 8765:
        command += " --port {}".format(port)
    return command


class Client(object):
    def __init__(self, base_url=DEFAULT_URL, token=None, timeout=10.0):
        base_url = (base_url or DEFAULT_URL).strip()
        if "//" not in base_url:
            base_url = "http://" + base_url
        self.base_url = base_url.rstrip("/")
        self.token = token or None
        self.timeout = timeout

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method, path, body=None, timeout=None, accept="application/json", headers=None):
        headers = dict(headers or {}, Accept=accept)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        request = Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            return urlopen(request, timeout=timeout or self.timeout)
        except HTTPError as exc:
            raise self._http_error(exc, method, path)
        except (URLError, socket.timeout, ConnectionError, OSError) as exc:
            raise self.down_error(exc)

    def down_error(self, exc=None):
        reason = getattr(exc, "reason", exc)
        return ServerDownError(
            "The ShotForge server is not running at {} ({}).\nStart it in a terminal with:\n    {}\n"
            "then run ShotForge again (or set the path of 'shotforge' in the dialog so it is started "
            "for you).".format(self.base_url, reason or "no answer", start_hint(self.base_url)))

    def _http_error(self, exc, method, path):
        code, message = "http_{}".format(exc.code), None
        try:
            payload = json.loads(exc.read().decode("utf-8") or "{}")
            error = payload.get("error") if isinstance(payload, dict) else None
            if isinstance(error, dict):
                code = error.get("code") or code
                message = error.get("message")
            elif isinstance(payload, dict) and payload.get("detail"):
                detail = payload["detail"]
                message = detail if isinstance(detail, str) else json.dumps(detail)
        except Exception:
            pass
        if exc.code == 401 or exc.code == 403:
            message = message or "the server wants a token: set the token in the ShotForge dialog"
        what = "the job" if (method, path) == ("POST", "/v1/jobs") else "{} {}".format(method, path)
        return ServerError("The ShotForge server refused {}: {}".format(what, message or exc.reason), code=code)

    def _json(self, method, path, body=None, timeout=None, headers=None):
        response = self._request(method, path, body, timeout, headers=headers)
        try:
            raw = response.read()
        finally:
            response.close()
        try:
            return json.loads(raw.decode("utf-8")) if raw else {}
        except ValueError:
            raise ServerError("The server at {} did not answer JSON on {} {}: is it ShotForge?".format(
                self.base_url, method, path), code="bad_response")

    def _post_once(self, path, body):
        """POST with an Idempotency-Key, sent once more with the same key when the first answer is
        lost (a time-out, a dropped connection): the server answers the retry with what the first
        POST made."""
        headers = {"Idempotency-Key": "shotforge-resolve-" + uuid.uuid4().hex}
        try:
            return self._json("POST", path, body, headers=headers)
        except ServerDownError:
            return self._json("POST", path, body, headers=headers)

    # -- routes ----------------------------------------------------------------------------
    def health(self, timeout=3.0):
        return self._json("GET", "/v1/health", timeout=timeout)

    def submit(self, request):
        """POST the request OTIO (a dict, or JSON bytes) and return the job id.

        The POST carries an Idempotency-Key and is sent once more with the same key when the
        first answer is lost (a time-out, a dropped connection): the server then returns the job
        the first POST made, so a retry never renders the same request twice."""
        answer = self._post_once("/v1/jobs", request)
        job_id = answer.get("id") if isinstance(answer, dict) else None
        if not job_id:
            raise ServerError("The server accepted the job but sent no id: {!r}".format(answer),
                              code="bad_response")
        return str(job_id)

    def job(self, job_id):
        return self._json("GET", "/v1/jobs/{}".format(job_id))

    def cancel(self, job_id):
        return self._json("DELETE", "/v1/jobs/{}".format(job_id))

    def take(self, take_id):
        return self._json("GET", "/v1/takes/{}".format(take_id))

    def rerender(self, take_id, overrides):
        """POST a re-render of a take into its own slot; returns the new job id. Sent as
        :meth:`submit` sends a job: a retry after a lost answer gets the first job, not a second take."""
        answer = self._post_once("/v1/takes/{}/rerender".format(take_id), overrides)
        job_id = answer.get("id") if isinstance(answer, dict) else None
        if not job_id:
            raise ServerError("The server accepted the re-render but sent no job id: {!r}".format(answer),
                              code="bad_response")
        return str(job_id)

    def events(self, job_id, timeout=60.0):
        """The job's server-sent events, one record dict at a time, until the stream ends."""
        response = self._request("GET", "/v1/jobs/{}/events".format(job_id), timeout=timeout,
                                 accept="text/event-stream")
        try:
            data = []
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        text = "\n".join(data)
                        data = []
                        try:
                            yield json.loads(text)
                        except ValueError:
                            pass  # a keep-alive or a non-JSON event
                    continue
                if line.startswith(":"):
                    continue
                field, _, value = line.partition(":")
                if field == "data":
                    data.append(value[1:] if value.startswith(" ") else value)
            if data:
                try:
                    yield json.loads("\n".join(data))
                except ValueError:
                    pass
        finally:
            response.close()

    # -- starting the server ---------------------------------------------------------------
    def ensure_running(self, shotforge_path=None, wait=30.0, log_path=None):
        """Check the server answers; if not and ``shotforge_path`` is set, start it and wait."""
        try:
            return self.health()
        except ServerDownError as first:
            if not shotforge_path:
                raise first
        if not os.path.isfile(shotforge_path):
            raise ServerDownError("The ShotForge server is not running at {}, and the 'shotforge' "
                                  "path set in the dialog ({}) is not a file. Start it in a terminal "
                                  "with:\n    {}".format(self.base_url, shotforge_path,
                                                         start_hint(self.base_url)))
        parts = urlsplit(self.base_url)
        command = [shotforge_path, "serve", "--host", parts.hostname or "127.0.0.1",
                   "--port", str(parts.port or 8765)]
        if self.token:
            command += ["--token", self.token]
        log = open(log_path, "ab") if log_path else open(os.devnull, "wb")
        kwargs = {"stdout": log, "stderr": subprocess.STDOUT, "stdin": subprocess.DEVNULL}
        if sys.platform.startswith("win"):
            kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED_PROCESS | NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True
        try:
            subprocess.Popen(command, **kwargs)
        except OSError as exc:
            raise ServerDownError("Could not start the ShotForge server with {}: {}".format(
                " ".join(command), exc))
        finally:
            log.close()
        deadline = time.time() + wait
        while True:
            try:
                return self.health()
            except ServerDownError:
                if time.time() > deadline:
                    raise ServerDownError(
                        "Started '{}' but the server did not answer at {} within {:.0f} s{}.".format(
                            " ".join(command), self.base_url, wait,
                            " (see {})".format(log_path) if log_path else ""))
                time.sleep(0.5)


class JobWatcher(object):
    """Follows a job in a background thread (SSE, falling back to polling) so a UI stays live.

    ``latest`` is the newest job record; ``finished`` is set once the job is done, failed or
    canceled (or the server went away: ``error`` then holds the exception).
    """

    def __init__(self, client, job_id, poll_interval=0.5, use_sse=True):
        self.client = client
        self.job_id = job_id
        self.poll_interval = poll_interval
        self.use_sse = use_sse
        self.latest = {"id": job_id, "state": "queued", "progress": 0.0, "stage": "queued"}
        self.error = None
        self.finished = threading.Event()
        self.cancel_requested = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="shotforge-job-" + job_id)
        self._thread.daemon = True

    def start(self):
        self._thread.start()
        return self

    def _update(self, record):
        if isinstance(record, dict) and record.get("state"):
            with self._lock:
                self.latest = record
            if record.get("state") in TERMINAL:
                return True
        return False

    def _run(self):
        try:
            if self.use_sse:
                try:
                    for record in self.client.events(self.job_id):
                        if self._update(record):
                            return
                except (ServerError, socket.timeout, OSError, ValueError):
                    pass  # fall back to polling below
                except ServerDownError:
                    pass
            failures = 0
            while True:
                try:
                    if self._update(self.client.job(self.job_id)):
                        return
                    failures = 0
                except ServerDownError as exc:
                    failures += 1
                    if failures >= 6:
                        self.error = exc
                        return
                time.sleep(self.poll_interval)
        except Exception as exc:  # never die silently: the UI reports it
            self.error = exc
        finally:
            self.finished.set()

    def cancel(self):
        """Ask the server to cancel; the watcher ends when the server says 'canceled'."""
        self.cancel_requested = True
        try:
            self.client.cancel(self.job_id)
        except ServerError:
            pass  # already finished: the record tells

    def snapshot(self):
        with self._lock:
            return dict(self.latest)


def wait_for_job(client, job_id, on_update=None, should_cancel=None, poll_interval=0.3, use_sse=True,
                 timeout=None):
    """Follow a job to its end, calling ``on_update(record)``; cancel when ``should_cancel()``.

    Returns the finished record when the job is done; raises JobFailed (with the server's
    message), JobCanceled or ServerDownError otherwise.
    """
    watcher = JobWatcher(client, job_id, poll_interval=poll_interval, use_sse=use_sse).start()
    started = time.time()
    last = None
    while True:
        finished = watcher.finished.wait(poll_interval)
        record = watcher.snapshot()
        marker = (record.get("state"), record.get("progress"), record.get("stage"))
        if on_update and marker != last:
            on_update(record)
            last = marker
        if finished:
            break
        if should_cancel and not watcher.cancel_requested and should_cancel():
            watcher.cancel()
        if timeout is not None and time.time() - started > timeout:
            watcher.cancel()
            raise JobFailed("The job did not finish within {:.0f} s and was canceled.".format(timeout),
                            code="timeout")
    if watcher.error is not None:
        if isinstance(watcher.error, Exception):
            raise watcher.error
    return check_finished(watcher.snapshot())


def check_finished(record):
    state = record.get("state")
    if state == "done":
        return record
    error = record.get("error") or {}
    if state == "canceled":
        raise JobCanceled("The job was canceled; the timeline is unchanged.")
    message = error.get("message") if isinstance(error, dict) else str(error)
    code = error.get("code") if isinstance(error, dict) else None
    raise JobFailed("The ShotForge job failed: {}".format(message or "no reason given ({})".format(state)),
                    code=code or "job_failed")
