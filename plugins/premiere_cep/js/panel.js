/*
 * ShotForge for Premiere Pro: the panel's UI. Reads the sequence through the host script,
 * builds the request (sf_core), runs the job on the server (sf_client) with progress and
 * Cancel, and places the result (sf_host). Nothing touches the sequence until the job is done
 * and every placement has been checked; a failed or canceled job changes nothing.
 */
(function () {
  "use strict";

  var core = window.ShotForgeCore;
  var HostBridge = window.ShotForgeHostBridge.HostBridge;
  var Client = window.ShotForgeClient.Client;
  var SETTINGS_KEY = "shotforge.premiere.settings";
  var RUN_LABEL = { extend: "Extend", fill_gap: "Fill gap", outpaint: "Outpaint", generate: "Generate B-roll" };

  var cs = new CSInterface();
  var host = new HostBridge(function (script, cb) { cs.evalScript(script, cb); }, window.SHOTFORGE_BRIDGE_OPTIONS);

  var state = { op: "extend", busy: false, jobId: null, control: null, client: null, seq: null, lastRecord: null, log: [] };

  function $(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ settings

  function loadSettings() {
    var s = {};
    try { s = JSON.parse(window.localStorage.getItem(SETTINGS_KEY) || "{}") || {}; } catch (e) { s = {}; }
    if (s.url) $("server-url").value = s.url;
    if (s.token) $("server-token").value = s.token;
    if (s.op && RUN_LABEL[s.op]) state.op = s.op;
    ["frames", "side", "seed", "engine", "placement", "canvas-preset", "canvas-w", "canvas-h"].forEach(function (k) {
      if (s[k] != null && $(k)) $(k).value = s[k];
    });
  }

  function saveSettings() {
    var s = { url: $("server-url").value.trim(), token: $("server-token").value, op: state.op };
    ["frames", "side", "seed", "engine", "placement", "canvas-preset", "canvas-w", "canvas-h"].forEach(function (k) { s[k] = $(k).value; });
    try { window.localStorage.setItem(SETTINGS_KEY, JSON.stringify(s)); } catch (e) { /* private mode: fine */ }
  }

  function client() {
    return new Client({ baseUrl: $("server-url").value.trim() || "http://127.0.0.1:8765", token: $("server-token").value.trim(),
      pollMs: window.SHOTFORGE_POLL_MS || 500 });
  }

  // ------------------------------------------------------------------ view

  function setStatus(text, kind) {
    var el = $("status");
    el.textContent = text || "";
    el.className = "status" + (kind ? " " + kind : "");
    if (text) state.log.push({ kind: kind || "", text: text });
  }

  function setOp(op) {
    state.op = op;
    Array.prototype.forEach.call(document.querySelectorAll(".ops button"), function (b) {
      b.setAttribute("aria-selected", b.getAttribute("data-op") === op ? "true" : "false");
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-for]"), function (el) {
      var show = el.getAttribute("data-for").split(" ").indexOf(op) >= 0;
      if (el.id === "canvas-custom") show = show && $("canvas-preset").value === "custom";
      el.hidden = !show;
    });
    $("run").textContent = RUN_LABEL[op];
    saveSettings();
    describeTarget();
  }

  function setBusy(busy) {
    state.busy = busy;
    $("run").disabled = busy;
    Array.prototype.forEach.call(document.querySelectorAll(".ops button"), function (b) { b.disabled = busy; });
    if (!busy) $("cancel").hidden = true;
  }

  function showJob(stage, progress) {
    $("job").hidden = false;
    var pct = Math.max(0, Math.min(100, Math.round((progress || 0) * 100)));
    $("progress-bar").style.width = pct + "%";
    $("percent").textContent = pct + "%";
    $("stage").textContent = stage || "";
  }

  function fillTracks(seq) {
    var sel = $("track"), keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    seq.tracks.forEach(function (t) {
      var o = document.createElement("option");
      o.value = String(t.index);
      o.textContent = "V" + (t.index + 1) + (t.name && t.name !== "V" + (t.index + 1) ? " · " + t.name : "");
      sel.appendChild(o);
    });
    sel.value = Array.prototype.some.call(sel.options, function (o) { return o.value === keep; }) ? keep : "auto";
  }

  function fpsLabel(seq) {
    var f = seq.fps;
    return (Math.abs(f - Math.round(f)) < 1e-9 ? String(Math.round(f)) : f.toFixed(3)) + " fps";
  }

  function tc(seq, frame) { return core.timecode(frame + seq.zeroFrame, seq.rate, seq.dropFrame); }

  /** First and last frame as timecode (inclusive, as Premiere shows them) and the length. */
  function span(seq, start, end) {
    return tc(seq, start) + "–" + tc(seq, end - 1) + " (" + (end - start) + " frames)";
  }

  function describeTarget() {
    var el = $("target");
    if (!state.seq) return;
    var seq = state.seq;
    try {
      var t = core.findTarget(seq, state.op, $("track").value);
      var where;
      if (t.clip) {
        where = (state.op === "extend" ? ($("side").value === "head" ? "Head of " : "Tail of ") : "") +
          "‘" + t.clip.name + "’ on V" + (t.track + 1) + " · " + span(seq, t.clip.start, t.clip.end);
      } else if (t.gap) {
        where = "Gap on V" + (t.track + 1) + " · " + span(seq, t.gap.start, t.gap.end);
      } else {
        where = "In/Out " + span(seq, t.range[0], t.range[1]) + " on V" + (t.track + 1);
      }
      el.textContent = where + " · " + seq.name + ", " + fpsLabel(seq);
      el.className = "target ready";
    } catch (e) {
      el.textContent = e.message;
      el.className = "target problem";
    }
  }

  function refresh() {
    return host.facts().then(function (facts) {
      state.seq = core.readSequence(facts);
      fillTracks(state.seq);
      describeTarget();
      return state.seq;
    }).catch(function (e) {
      state.seq = null;
      $("target").textContent = e.message;
      $("target").className = "target problem";
    });
  }

  function checkServer() {
    var dot = $("server-state");
    return client().health().then(function (h) {
      dot.className = "dot ok";
      dot.title = "Server: ready" + (h && h.version ? " (" + h.version + ")" : "");
      return true;
    }, function (e) {
      dot.className = "dot bad";
      dot.title = e.message;
      return false;
    });
  }

  // ------------------------------------------------------------------ the job

  function readOptions(seq) {
    var preset = $("canvas-preset").value, canvas = null;
    if (preset === "custom") canvas = [parseInt($("canvas-w").value, 10), parseInt($("canvas-h").value, 10)];
    else if (preset) canvas = preset.split("x").map(Number);
    else if (seq.width && seq.height) canvas = [seq.width, seq.height];
    var frames = $("frames").value.trim();
    return {
      operation: state.op,
      track: $("track").value,
      side: $("side").value,
      frames: frames === "" ? NaN : Number(frames),
      canvas: state.op === "outpaint" || state.op === "generate" ? canvas : null,
      prompt: $("prompt").value,
      negative_prompt: $("negative-prompt").value,
      seed: $("seed").value.trim() === "" ? 0 : Number($("seed").value),
      engine: $("engine").value,
      placement: $("placement").value || undefined,
      useReferenceFrame: $("use-reference").checked,
    };
  }

  function onRecord(rec) {
    state.lastRecord = rec;
    var stage = rec.stage || rec.state;
    showJob(stage, rec.state === "done" ? 1 : rec.progress);
  }

  function describeError(e) {
    return e && e.message ? e.message : String(e);
  }

  function run() {
    if (state.busy) return Promise.resolve();
    saveSettings();
    setBusy(true);
    setStatus("");
    $("job").hidden = true;
    var c = state.client = client();
    var build, id, sent = false;
    return host.facts().then(function (facts) {
      state.seq = core.readSequence(facts);
      fillTracks(state.seq);
      build = core.buildRequest(state.seq, readOptions(state.seq));
      state.request = build.otio;
      sent = true;
      showJob("sending", 0);
      return c.submit(build.otio);
    }).then(function (jobId) {
      id = state.jobId = jobId;
      $("cancel").hidden = false;
      $("cancel").disabled = false;
      showJob("queued", 0);
      state.control = { stopped: false };
      return c.watch(id, onRecord, state.control);
    }).then(function (rec) {
      $("cancel").hidden = true;
      if (rec.state === "canceled") {
        setStatus("Canceled. Nothing in the sequence was changed.", "");
        return;
      }
      if (rec.state === "failed") {
        var err = rec.error || {};
        setStatus("The job failed" + (err.code ? " (" + err.code + ")" : "") + ": " + (err.message || "no reason given") +
          "\nNothing in the sequence was changed.", "error");
        return;
      }
      var placements = rec.result && rec.result.placements;
      showJob("placing", 1);
      return host.facts().then(function (facts) {
        var seq = core.readSequence(facts);
        if (seq.id !== build.seq.id) {
          throw new core.ShotForgeError("sequence_changed", "the active sequence changed while the job ran; open ‘" + build.seq.name +
            "’ and run again (the render is in " + (rec.result.media || []).join(", ") + ")");
        }
        if (seq.tpf !== build.seq.tpf) throw new core.ShotForgeError("sequence_changed", "the sequence frame rate changed while the job ran");
        var plan = core.planPlacements(seq, placements, { label: "ShotForge " + state.op.replace("_", " "),
          requestTracks: build.seq.tracks.length });
        return host.placeAll(seq, plan).then(function (placed) {
          state.placed = placed;
          var lines = placed.map(function (p) {
            var s = p.step;
            return "V" + (s.track + 1) + " " + tc(seq, s.recordFrame) + " · " + s.frames + " frames · " + baseName(s.media);
          });
          showJob("placed", 1);
          var note = rec.result.placeholder ? "\nThis is a placeholder (a slate with the prompt) from the " + (rec.result.engine || "classical") +
            " engine: re-render it with a model engine when one is installed." : "";
          setStatus("Placed " + placed.length + " clip" + (placed.length === 1 ? "" : "s") + ":\n" + lines.join("\n") + note, "ok");
        });
      });
    }).catch(function (e) {
      var msg = describeError(e);
      if (id && e && e.code && ["no_free_track", "placement_mismatch", "placement_failed", "import_timeout", "sequence_changed", "bad_placement", "no_placements"].indexOf(e.code) >= 0) {
        setStatus("The render finished but could not be placed: " + msg, "error");
      } else if (sent) {
        setStatus(msg + "\nNothing in the sequence was changed.", "error");
      } else {
        setStatus(msg, "error");
      }
    }).then(function () {
      state.jobId = null;
      state.control = null;
      setBusy(false);
      return refresh();
    });
  }

  function cancel() {
    if (!state.jobId || !state.client) return Promise.resolve();
    $("cancel").disabled = true;
    $("stage").textContent = "canceling…";
    return state.client.cancel(state.jobId).catch(function (e) {
      $("cancel").disabled = false;
      setStatus("Cancel failed: " + describeError(e), "error");
    });
  }

  function baseName(p) {
    var s = String(p).replace(/\\/g, "/");
    return s.slice(s.lastIndexOf("/") + 1);
  }

  // ------------------------------------------------------------------ wiring

  function init() {
    loadSettings();
    Array.prototype.forEach.call(document.querySelectorAll(".ops button"), function (b) {
      b.addEventListener("click", function () { setOp(b.getAttribute("data-op")); });
    });
    $("run").addEventListener("click", run);
    $("cancel").addEventListener("click", cancel);
    $("refresh").addEventListener("click", refresh);
    $("settings-toggle").addEventListener("click", function () {
      var s = $("settings");
      s.hidden = !s.hidden;
      $("settings-toggle").setAttribute("aria-expanded", s.hidden ? "false" : "true");
    });
    $("server-check").addEventListener("click", function () { saveSettings(); checkServer(); });
    $("server-url").addEventListener("change", function () { saveSettings(); checkServer(); });
    $("canvas-preset").addEventListener("change", function () { setOp(state.op); });
    ["track", "side"].forEach(function (k) { $(k).addEventListener("change", describeTarget); });
    ["frames", "seed", "engine", "placement", "canvas-w", "canvas-h"].forEach(function (k) { $(k).addEventListener("change", saveSettings); });
    window.addEventListener("focus", function () { if (!state.busy) refresh(); });
    setOp(state.op);
    refresh();
    checkServer();
  }

  window.ShotForgePanel = { state: state, run: run, cancel: cancel, refresh: refresh, setOp: setOp, checkServer: checkServer };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
