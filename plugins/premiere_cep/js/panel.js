/*
 * ShotForge for Premiere Pro: the panel's UI over the headless workflow (sf_workflow): it reads
 * the editor's choices, shows progress and Cancel, asks before an overwrite (listing exactly what
 * it destroys), keeps a finished render that could not be placed (Place again), and offers
 * "Remove last result" and "New take" on the sequence's take history (kept in localStorage, so it
 * survives a panel reload). Nothing touches the sequence until a job is done, and a placement
 * that fails leaves the sequence exactly as before.
 */
(function () {
  "use strict";

  var core = window.ShotForgeCore;
  var HostBridge = window.ShotForgeHostBridge.HostBridge;
  var Client = window.ShotForgeClient.Client;
  var flow = window.ShotForgeWorkflow;
  var SETTINGS_KEY = "shotforge.premiere.settings";
  var RUN_LABEL = { extend: "Extend", fill_gap: "Fill gap", outpaint: "Outpaint", generate: "Generate B-roll", inpaint: "Inpaint" };
  var FIELDS = ["frames", "side", "seed", "engine", "canvas-preset", "canvas-w", "canvas-h", "inpaint-source", "region-x", "region-y",
    "region-w", "region-h", "region-end-x", "region-end-y", "region-end-w", "region-end-h", "mask-path"];

  var cs = new CSInterface();
  var host = new HostBridge(function (script, cb) { cs.evalScript(script, cb); }, window.SHOTFORGE_BRIDGE_OPTIONS);

  var store = flow.localStore(window.localStorage);
  var state = { op: "extend", busy: false, wf: null, seq: null, lastRecord: null, pending: null, log: [] };

  function $(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ settings

  function loadSettings() {
    var s = {};
    try { s = JSON.parse(window.localStorage.getItem(SETTINGS_KEY) || "{}") || {}; } catch (e) { s = {}; }
    if (s.url) $("server-url").value = s.url;
    if (s.token) $("server-token").value = s.token;
    if (s.op && RUN_LABEL[s.op]) state.op = s.op;
    FIELDS.forEach(function (k) {
      if (s[k] != null && $(k)) $(k).value = s[k];
    });
    $("region-moving").checked = !!s["region-moving"];
  }

  function saveSettings() {
    var s = { url: $("server-url").value.trim(), token: $("server-token").value, op: state.op, "region-moving": $("region-moving").checked };
    FIELDS.forEach(function (k) { s[k] = $(k).value; });
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
      el.hidden = !(show && shownWhen(el));
    });
    $("run").textContent = RUN_LABEL[op];
    var prompt = $("prompt");
    if (!prompt.getAttribute("data-placeholder")) prompt.setAttribute("data-placeholder", prompt.placeholder);
    prompt.placeholder = prompt.getAttribute(op === "inpaint" ? "data-inpaint-placeholder" : "data-placeholder");
    saveSettings();
    describeTarget();
  }

  /** data-when="id=value id2": shown while field `id` has that value and checkbox `id2` is ticked. */
  function shownWhen(el) {
    return (el.getAttribute("data-when") || "").split(" ").filter(Boolean).every(function (cond) {
      var eq = cond.indexOf("=");
      return eq < 0 ? $(cond).checked : $(cond.slice(0, eq)).value === cond.slice(eq + 1);
    });
  }

  function setBusy(busy) {
    state.busy = busy;
    ["run", "place-again", "new-take", "remove-last", "confirm-overwrite", "conform-run"].forEach(function (id) { $(id).disabled = busy; });
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
      return recoverCut();
    }).then(function () {
      showTakes();
      return state.seq;
    }).catch(function (e) {
      state.seq = null;
      $("target").textContent = e.message;
      $("target").className = "target problem";
    });
  }

  /** A placement cut short by a panel reload or close is taken off again, and the editor told. */
  function recoverCut() {
    if (state.busy) return null;
    var wf = new flow.Workflow({ host: host, client: {}, store: store });
    if (!store.load(state.seq.id).some(function (t) { return (t.placing || t.swapping) && !t.removed; })) return null;
    return wf.recover().then(function (cut) {
      if (!cut.length) return;
      setStatus(cut.map(function (t) {
        return "‘" + t.name + "’ was being placed when the panel closed; its clips were taken off again" +
          (t.kept && t.kept.length ? " (" + t.kept.length + " changed since, left as they are)" : "") + ". Its render: " + t.media.join(", ");
      }).join("\n"), "error");
    });
  }

  /**
   * A job started before the panel was reloaded or closed: follow it and place it as Run would
   * (a new take is swapped in). One whose placement was already tried is offered with Place
   * again instead of being placed unasked.
   */
  function resumeJob() {
    if (!state.seq || !store.loadJob(state.seq.id)) return Promise.resolve();
    var seqId = state.seq.id;
    return guarded(function () {
      var wf = workflow();
      showJob("following the job started before the panel was reloaded", 0);
      return wf.resume().then(function (out) {
        if (!out) return null;
        if (out.record.state !== "done") return unfinished(out.record);
        if (out.replaces) {
          return wf.placeResumed(out).then(function (o) {
            showJob("placed", 1);
            setStatus(placedText(o.take, "Swapped in") + "\n(replacing ‘" + o.replaced.name + "’)", placedKind(o.take));
          }, function (e) { store.saveJob(seqId, null); throw e; });
        }
        if (out.tried) return keepRender(out.job, out.record, new Error("the panel was reloaded while it was being placed"));
        return placeJob(out.job, out.record, null);
      });
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
    var inpaint = state.op === "inpaint", byRegion = $("inpaint-source").value === "region";
    return {
      operation: state.op,
      track: $("track").value,
      side: $("side").value,
      frames: frames === "" ? NaN : Number(frames),
      canvas: state.op === "outpaint" || state.op === "generate" ? canvas : null,
      region: inpaint && byRegion ? region("region") : null,
      region_end: inpaint && byRegion && $("region-moving").checked ? region("region-end") : null,
      mask: inpaint && !byRegion ? $("mask-path").value : null,
      prompt: $("prompt").value,
      negative_prompt: $("negative-prompt").value,
      seed: $("seed").value.trim() === "" ? 0 : Number($("seed").value),
      engine: $("engine").value,
      placement: $("placement").value || "auto",
      useReferenceFrame: $("use-reference").checked,
    };
  }

  /** [x, y, w, h] from the four fields `prefix`-x… (an empty field reads as NaN, refused by the core). */
  function region(prefix) {
    return ["x", "y", "w", "h"].map(function (k) {
      var v = $(prefix + "-" + k).value.trim();
      return v === "" ? NaN : Number(v);
    });
  }

  function onRecord(rec) {
    state.lastRecord = rec;
    if (rec.state === "queued" || rec.state === "running") $("cancel").hidden = false;
    showJob(rec.stage || rec.state, rec.state === "done" ? 1 : rec.progress);
  }

  function workflow() {
    state.wf = new flow.Workflow({ host: host, client: client(), store: store, onRecord: onRecord });
    return state.wf;
  }

  function describeError(e) {
    return e && e.message ? e.message : String(e);
  }

  /** A finished job's outcome other than "done": said plainly, nothing changed. */
  function unfinished(rec) {
    if (rec.state === "canceled") return setStatus("Canceled. Nothing in the sequence was changed.", "");
    var err = rec.error || {};
    setStatus("The job failed" + (err.code ? " (" + err.code + ")" : "") + ": " + (err.message || "no reason given") +
      "\nNothing in the sequence was changed.", "error");
  }

  /** A placed take's status kind: a warning when its overwrite cut the editor's sound. */
  function placedKind(take) {
    return take.cut && take.cut.length ? "error" : "ok";
  }

  function placedText(take, verb) {
    var seq = state.seq;
    var lines = take.items.map(function (it) {
      var f = core.frameAt(it.start, seq.tpf);
      return "V" + (it.track + 1) + " " + tc(seq, f) + " · " + (core.frameAt(it.end, seq.tpf) - f) + " frames · " + core.basename(it.media) +
        (it.audio ? "\n" + core.audioTrackLabel(it.audio.track) + " " + tc(seq, f) + " · its room tone" : "");
    });
    var note = take.placeholder ? "\nThis is a placeholder (a slate with the prompt) from the " + (take.engine || "classical") +
      " engine: re-render it with a model engine when one is installed." : "";
    if (!take.labelled) note += "\nPremiere did not keep the take's colour label.";
    (take.notes || []).forEach(function (n) { note += "\n" + n; });  // the server's word on the result
    if (take.cut && take.cut.length) {
      note += "\nPremiere's overwrite also cut the editor's sound " + take.cut.join(", ") + ": only Edit > Undo brings it back.";
    }
    return verb + " ‘" + take.name + "’ (" + take.items.length + " clip" + (take.items.length === 1 ? "" : "s") + "):\n" + lines.join("\n") + note;
  }

  /**
   * Plan a finished job on the live sequence; ask first when it would overwrite; place it.
   * `confirmed`: the list the editor agreed to in the dialog. The workflow re-reads the sequence
   * and overwrites only when what it would destroy now is exactly that list; otherwise it asks again.
   */
  function placeJob(job, record, confirmed) {
    var wf = state.wf || workflow();
    showJob("placing", 1);
    return wf.prepare(job, record).then(function (prepared) {
      if (prepared.destroys.length && !confirmed) {
        state.pending = { job: job, record: record, destroys: prepared.destroys };
        askOverwrite(prepared.destroys, false);
        return null;
      }
      return wf.place(job, record, prepared, { confirmOverwrite: confirmed || [] }).then(function (take) {
        state.pending = null;
        $("pending").hidden = true;
        showJob("placed", 1);
        setStatus(placedText(take, "Placed"), placedKind(take));
        return take;
      });
    }).catch(function (e) {
      if (e.code === "needs_confirmation" && e.destroys) {
        state.pending = { job: job, record: record, destroys: e.destroys };
        return askOverwrite(e.destroys, true);
      }
      keepRender(job, record, e);
    });
  }

  /** The render is finished but not placed: say why and where it is, and offer Place again. */
  function keepRender(job, record, e) {
    state.pending = { job: job, record: record };
    setStatus("The render finished but was not placed: " + describeError(e), "error");
    $("pending-text").textContent = "Render kept: " + flow.renderPaths(record).join(", ") + "\nMake room (or open its sequence), then press Place again.";
    $("pending").hidden = false;
  }

  function askOverwrite(destroys, changed) {
    var seq = state.seq, list = $("confirm-list");
    $("confirm-text").textContent = (changed ? "What the overwrite would destroy changed since you were asked. " : "") +
      "Overwrite destroys " + destroys.length + " item" + (destroys.length === 1 ? "" : "s") +
      " of the edit (only Edit > Undo brings them back):";
    list.textContent = "";
    destroys.forEach(function (o) {
      var li = document.createElement("li");
      li.textContent = (o.kind === "transition" ? "transition " : "clip ") + "‘" + o.name + "’ on V" + (o.track + 1) + " · " + span(seq, o.start, o.end);
      list.appendChild(li);
    });
    $("confirm").hidden = false;
    setStatus("The render is finished. Overwrite needs your confirmation.", "");
  }

  function guarded(action) {
    if (state.busy) return Promise.resolve();
    saveSettings();
    setBusy(true);
    setStatus("");
    $("confirm").hidden = true;
    return Promise.resolve().then(action).catch(function (e) { setStatus(describeError(e), "error"); }).then(function () {
      setBusy(false);
      return refresh();
    });
  }

  function run() {
    var sent = false;
    return guarded(function () {
      $("job").hidden = true;
      $("pending").hidden = true;
      state.pending = null;
      state.lastRecord = null;
      return host.facts().then(function (facts) {
        state.seq = core.readSequence(facts);
        fillTracks(state.seq);
        var options = readOptions(state.seq);
        state.request = core.buildRequest(state.seq, options).otio; // a bad choice is refused here, before anything is sent
        sent = true;
        showJob("sending", 0);
        return workflow().render(options);
      }).then(function (r) {
        if (r.record.state !== "done") return unfinished(r.record);
        return placeJob(r.job, r.record, false);
      }, function (e) {
        throw new core.ShotForgeError(e.code, describeError(e) + (sent ? "\nNothing in the sequence was changed." : ""));
      });
    });
  }

  function placeAgain(confirmed) {
    var p = state.pending;
    if (!p) return Promise.resolve();
    // Confirming hands over exactly the list the dialog showed.
    return guarded(function () { return placeJob(p.job, p.record, confirmed ? p.destroys : null); });
  }

  function removeLast() {
    return guarded(function () {
      return workflow().removeLast().then(function (out) {
        var text = "Removed ‘" + out.take.name + "’ and its marker.";
        if (out.kept.length) {
          // A sound item is {audio: true, ...}; a clip placed with sound carries its sound as `audio`.
          text += "\n" + out.kept.length + " of its clips changed since it was placed (or are linked to one that did) and " +
            (out.kept.length === 1 ? "was" : "were") + " left as they are: " + out.kept.map(function (it) {
              return (it.audio === true ? core.audioTrackLabel(it.track) : core.trackLabel(it.track)) + " " + tc(state.seq, core.frameAt(it.start, state.seq.tpf));
            }).join(", ");
        }
        if (out.take.overwrote && out.take.overwrote.length) text += "\nWhat its overwrite covered comes back only with Edit > Undo.";
        setStatus(text, out.kept.length ? "error" : "ok");
      });
    });
  }

  function newTake() {
    return guarded(function () {
      var wf = workflow(), last;
      return host.facts().then(function (facts) {
        state.seq = core.readSequence(facts);
        last = wf.lastTake(state.seq.id);
        var opts = {};
        var seed = $("seed").value.trim();
        // The seed field when the editor changed it from the last take's, else the next seed.
        if (last && seed !== "" && Number(seed) !== last.seed) opts.seed = Number(seed);
        if (last && $("prompt").value !== "" && $("prompt").value !== last.prompt) opts.prompt = $("prompt").value;
        showJob("sending", 0);
        return wf.newTake(opts);
      }).then(function (out) {
        if (!out.take) return unfinished(out.record);
        showJob("placed", 1);
        setStatus(placedText(out.take, "Swapped in") + "\n(replacing ‘" + out.replaced.name + "’)", placedKind(out.take));
      });
    });
  }

  /** Conform placeholders: the choices in the Conform card; progress over the whole conform; Cancel stops it all. */
  function conformPlaceholders() {
    return guarded(function () {
      var c = new window.ShotForgeConform.Conform(workflow(), {
        engine: $("conform-engine").value, model: $("conform-model").value, mode: $("conform-mode").value,
        includeClassical: $("conform-classical").checked, newSeed: $("conform-new-seed").checked,
        onProgress: function (p) { showJob(p.stage, p.progress); } });
      state.conform = c;
      showJob("finding the placeholders", 0);
      $("cancel").hidden = false;
      $("cancel").disabled = false;
      return c.run().then(function (out) {
        showJob(out.state === "canceled" ? "canceled" : "placed", 1);
        setStatus(out.message, out.failed.length || out.state === "canceled" ? "error" : "ok");
      }).then(function () { state.conform = null; }, function (e) { state.conform = null; throw e; });
    });
  }

  function showTakes() {
    var take = state.seq ? new flow.Workflow({ host: host, client: {}, store: store }).lastTake(state.seq.id) : null;
    $("takes").hidden = !take;
    if (take) {
      $("take-last").textContent = "Last result: ‘" + take.name + "’ · " + (take.engine || "?") + (take.model ? " / " + take.model : "") +
        " · seed " + take.seed + (take.prompt ? " · “" + take.prompt + "”" : "");
    }
  }

  function cancel() {
    if (state.conform) {
      $("cancel").disabled = true;
      $("stage").textContent = "canceling…";
      return state.conform.cancel();
    }
    if (!state.wf) return Promise.resolve();
    $("cancel").disabled = true;
    $("stage").textContent = "canceling…";
    return state.wf.cancel().catch(function (e) {
      $("cancel").disabled = false;
      setStatus("Cancel failed: " + describeError(e), "error");
    });
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
    $("place-again").addEventListener("click", function () { placeAgain(false); });
    $("confirm-overwrite").addEventListener("click", function () { placeAgain(true); });
    $("confirm-cancel").addEventListener("click", function () {
      $("confirm").hidden = true;
      if (!state.pending) return;
      // Declined: Place again stays offered here, but a reloaded panel does not bring it back.
      store.saveJob(state.pending.job.sequenceId, null);
      keepRender(state.pending.job, state.pending.record, new Error("overwrite not confirmed; nothing in the sequence was changed"));
    });
    $("remove-last").addEventListener("click", removeLast);
    $("new-take").addEventListener("click", newTake);
    $("conform-run").addEventListener("click", conformPlaceholders);
    $("settings-toggle").addEventListener("click", function () {
      var s = $("settings");
      s.hidden = !s.hidden;
      $("settings-toggle").setAttribute("aria-expanded", s.hidden ? "false" : "true");
    });
    $("server-check").addEventListener("click", function () { saveSettings(); checkServer(); });
    $("server-url").addEventListener("change", function () { saveSettings(); checkServer(); });
    ["canvas-preset", "inpaint-source", "region-moving"].forEach(function (k) { $(k).addEventListener("change", function () { setOp(state.op); }); });
    ["track", "side"].forEach(function (k) { $(k).addEventListener("change", describeTarget); });
    FIELDS.forEach(function (k) { $(k).addEventListener("change", saveSettings); });
    window.addEventListener("focus", function () { if (!state.busy) refresh(); });
    setOp(state.op);
    // Hidden panels are unloaded unless persistent; a job would stop following (and placing) then.
    host.keepLoaded().then(function (r) {
      if (!r.persistent) throw new Error("Premiere refused");
    }).then(null, function (e) {
      setStatus("Premiere may unload this panel when it is hidden (" + e.message + "); keep it open while a job runs.", "error");
    });
    refresh().then(resumeJob);
    checkServer();
  }

  window.ShotForgePanel = { state: state, run: run, cancel: cancel, refresh: refresh, setOp: setOp, checkServer: checkServer,
    removeLast: removeLast, newTake: newTake, placeAgain: placeAgain, conform: conformPlaceholders };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
