/*
 * ShotForge for Premiere Pro: the HTTP client for the local render server (DESIGN.md routes).
 *
 * POST /v1/jobs (request OTIO JSON) -> {id}; GET /v1/jobs/{id}; GET /v1/jobs/{id}/events (SSE
 * of the same record); DELETE /v1/jobs/{id}; errors are {"error": {code, message}}.
 *
 * The panel page is loaded from file://, so the browser sends `Origin: null` and enforces CORS
 * (CEP 11+): the server must answer that origin, preflight included. The events stream is read
 * with fetch() (so the token header can be sent); if it cannot be opened or breaks, the client
 * falls back to polling GET /v1/jobs/{id}.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory(require("./sf_core.js"));
  else root.ShotForgeClient = factory(root.ShotForgeCore);
})(typeof self !== "undefined" ? self : this, function (core) {
  "use strict";

  var ShotForgeError = core.ShotForgeError;
  var TERMINAL = { done: true, failed: true, canceled: true };

  function Client(options) {
    options = options || {};
    this.baseUrl = String(options.baseUrl || "http://127.0.0.1:8765").replace(/\/+$/, "");
    this.token = options.token || "";
    this.fetch = options.fetch || (typeof fetch !== "undefined" ? fetch.bind(typeof self !== "undefined" ? self : globalThis) : null);
    this.pollMs = options.pollMs || 500;
    this.useEvents = options.useEvents !== false;
  }

  Client.prototype.headers = function (extra) {
    var h = Object.assign({ Accept: "application/json" }, extra || {});
    if (this.token) h.Authorization = "Bearer " + this.token;
    return h;
  };

  Client.prototype.request = function (method, path, body, extraHeaders) {
    var self = this;
    var sent = Object.assign(body !== undefined ? { "Content-Type": "application/json" } : {}, extraHeaders || {});
    var init = { method: method, headers: this.headers(sent) };
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    return this.fetch(this.baseUrl + path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!res.ok) {
          var err = data && data.error;
          if (err && err.message) throw new ShotForgeError(err.code || "http_" + res.status, err.message);
          if (data && data.detail) {
            throw new ShotForgeError("http_" + res.status, typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
          }
          throw new ShotForgeError("http_" + res.status, "the server answered " + res.status + " " + (res.statusText || "") +
            (text ? ": " + text.slice(0, 300) : ""));
        }
        return data;
      });
    }, function (e) {
      throw new ShotForgeError("server_unreachable", "cannot reach the ShotForge server at " + self.baseUrl +
        " (" + (e && e.message ? e.message : e) + "). Start it with `shotforge serve` and check the address in Settings.");
    });
  };

  Client.prototype.health = function () { return this.request("GET", "/v1/health"); };
  Client.prototype.engines = function () { return this.request("GET", "/v1/engines"); };

  /**
   * POST a request; resolves the job id. The POST carries an Idempotency-Key and is sent once more
   * with the same key when the first answer is lost (the connection broke): the server then
   * returns the job the first POST made, so a retry never renders the same request twice.
   */
  Client.prototype.submit = function (otio) {
    return this.postOnce("/v1/jobs", otio).then(function (r) {
      if (!r || !r.id) throw new ShotForgeError("bad_response", "the server accepted the job but gave no id");
      return r.id;
    });
  };

  /** POST with an Idempotency-Key, sent once more with the same key when the connection broke: the server answers the retry with what the first POST made. */
  Client.prototype.postOnce = function (path, body) {
    var self = this;
    var headers = { "Idempotency-Key": "shotforge-premiere-" + newKey() };
    function post() { return self.request("POST", path, body, headers); }
    return post().catch(function (e) {
      if (e && e.code === "server_unreachable") return post();
      throw e;
    });
  };

  /** A random key (CEP 12's Chromium and node both have crypto.randomUUID). */
  function newKey() {
    var c = typeof crypto !== "undefined" ? crypto : (typeof require === "function" ? require("crypto") : null);
    return c.randomUUID().replace(/-/g, "");
  }

  /** A new take of a server take's exact slot (POST /v1/takes/{id}/rerender with overrides, sent as submit sends a job): resolves the new job's id. */
  Client.prototype.rerender = function (takeId, overrides) {
    return this.postOnce("/v1/takes/" + encodeURIComponent(takeId) + "/rerender", overrides || {}).then(function (r) {
      if (!r || !r.id) throw new ShotForgeError("bad_response", "the server accepted the re-render but gave no job id");
      return r.id;
    });
  };

  Client.prototype.get = function (id) { return this.request("GET", "/v1/jobs/" + encodeURIComponent(id)); };
  Client.prototype.cancel = function (id) { return this.request("DELETE", "/v1/jobs/" + encodeURIComponent(id)); };

  /**
   * Follow a job to its end: onUpdate(record) for every change; resolves with the final record.
   * `control.stopped` (set by the caller) ends the watch early.
   */
  Client.prototype.watch = function (id, onUpdate, control) {
    var self = this;
    control = control || {};
    var last = null;
    function emit(rec) {
      if (!rec) return;
      last = rec;
      if (onUpdate) onUpdate(rec);
    }
    function poll() {
      return self.get(id).then(function (rec) {
        emit(rec);
        if (TERMINAL[rec.state] || control.stopped) return rec;
        return new Promise(function (r) { setTimeout(r, self.pollMs); }).then(poll);
      });
    }
    if (!this.useEvents) return poll();
    return this.events(id, emit, control).then(function (rec) {
      if (rec && TERMINAL[rec.state]) return rec;
      return poll(); // the stream ended early or never opened: poll to the end
    }, function () { return poll(); });
  };

  /** Read the SSE stream; resolves with the last record seen (terminal or not). */
  Client.prototype.events = function (id, emit, control) {
    var self = this;
    return this.fetch(this.baseUrl + "/v1/jobs/" + encodeURIComponent(id) + "/events",
      { headers: this.headers({ Accept: "text/event-stream" }) }).then(function (res) {
      if (!res.ok || !res.body || !res.body.getReader) throw new Error("no event stream (" + res.status + ")");
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "", last = null;
      function handle(block) {
        var data = [];
        block.split(/\r?\n/).forEach(function (line) {
          if (line.indexOf("data:") === 0) data.push(line.slice(5).replace(/^ /, ""));
        });
        if (!data.length) return;
        var rec;
        try { rec = JSON.parse(data.join("\n")); } catch (e) { return; }
        if (rec && rec.state) { last = rec; emit(rec); }
      }
      function pump() {
        if (control.stopped) { try { reader.cancel(); } catch (e) { /* ignore */ } return last; }
        return reader.read().then(function (chunk) {
          if (chunk.done) { if (buffer.trim()) handle(buffer); return last; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split(/\r?\n\r?\n/);
          buffer = parts.pop();
          parts.forEach(handle);
          if (last && TERMINAL[last.state]) { try { reader.cancel(); } catch (e) { /* ignore */ } return last; }
          return pump();
        });
      }
      return pump();
    });
  };

  return { Client: Client, TERMINAL: TERMINAL };
});
