/*
 * ShotForge for Premiere Pro: "Conform placeholders". Every ShotForge take on the active sequence
 * (the take history, its clips still there as placed) whose job the server records as a
 * placeholder (the classical engine's generate slate: the job's result.placeholder), and with
 * includeClassical the classical engine's other results too, is re-rendered by the server from
 * its take (POST /v1/takes/{id}/rerender, the engine and model chosen) and placed as a new take:
 * "beside" (default) on the lowest free track above the old take over the same frames, the old
 * take kept; or "swap" in its slot exactly as New take does (old take off, new one on; on any
 * failure the old take back exactly). Progress covers the whole conform; cancel stops every
 * re-render still running and places nothing. One take that fails is named (clip, track,
 * timecode, reason) and the rest are done.
 *
 *   const { Conform } = require("plugins/premiere_cep/js/sf_conform.js");
 *   const out = await new Conform(workflow, { engine: "diffusers", model: "wan-1.3b", mode: "beside",
 *                                             includeClassical: false, newSeed: false, onProgress }).run();
 *   // out: {state: "done" | "canceled", conformed: [take], failed: [{where, reason}], message}
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory(require("./sf_core.js"), require("./sf_workflow.js"));
  } else {
    root.ShotForgeConform = factory(root.ShotForgeCore, root.ShotForgeWorkflow);
  }
})(typeof self !== "undefined" ? self : this, function (core, wfMod) {
  "use strict";

  var ShotForgeError = core.ShotForgeError;
  var ENGINES = ["diffusers", "classical", "auto"];
  var MODES = ["beside", "swap"];
  var TERMINAL = { done: true, failed: true, canceled: true };
  var MAX_SEED = 4294967295;

  function clone(v) { return JSON.parse(JSON.stringify(v)); }
  function notFound(e) { return e && (e.code === "job_not_found" || e.code === "take_not_found" || e.code === "not_found" || e.code === "http_404"); }

  /** Checked choices: {engine, model, mode, includeClassical, newSeed}. */
  function choices(opts) {
    opts = opts || {};
    var engine = String(opts.engine || "diffusers"), mode = String(opts.mode || "beside"), model = String(opts.model || "").trim();
    if (ENGINES.indexOf(engine) < 0) throw new ShotForgeError("bad_engine", "conform engine ‘" + engine + "’ is not one of " + ENGINES.join(", "));
    if (MODES.indexOf(mode) < 0) throw new ShotForgeError("bad_mode", "conform mode ‘" + mode + "’ is not ‘beside’ (a new take above) or ‘swap’ (in the slot)");
    if (model && engine !== "diffusers") throw new ShotForgeError("bad_model", "a model (" + model + ") needs the diffusers engine; the " + engine + " engine has none");
    return { engine: engine, model: model, mode: mode, includeClassical: !!opts.includeClassical, newSeed: !!opts.newSeed };
  }

  /** A take's clip in the editor's words: its name, track and the timecode of its first frame. */
  function where(take, seq) {
    var first = take.items.reduce(function (m, it) { return BigInt(it.start) < BigInt(m.start) ? it : m; }, take.items[0]);
    var frame = Number(BigInt(first.start) / seq.tpf);
    return "‘" + take.name + "’ on " + core.trackLabel(first.track) + " at " + core.timecode(frame + seq.zeroFrame, seq.rate, seq.dropFrame);
  }

  /** The re-render's body: the chosen engine and model ("auto": the take's own), a fresh seed when asked. */
  function overrides(c) {
    var body = {};
    if (c.engine !== "auto") body.engine = c.engine;
    if (c.model) body.model = c.model;
    if (c.newSeed) body.seed = Math.floor(Math.random() * (MAX_SEED + 1));
    return body;
  }

  /** The new job's placements on the old take's track, so "auto" places it on a free track above it. */
  function besideRecord(record, old) {
    var moved = clone(record);
    var track = old.items[0].track;
    moved.result.placements = moved.result.placements.map(function (p) { return Object.assign(p, { track: track }); });
    return moved;
  }

  /**
   * @param workflow a sf_workflow Workflow (its host, client and take history)
   * @param opts {engine, model, mode, includeClassical, newSeed, onProgress: fn({progress, stage, done})}
   */
  function Conform(workflow, opts) {
    this.wf = workflow;
    this.choices = choices(opts);
    this.onProgress = (opts && opts.onProgress) || function () {};
    this.units = [];
    this.failed = [];
    this.canceled = false;
    this.controls = [];
  }

  /** The takes to conform, in sequence order (track, then record frame), and the ones that cannot be ({where, reason}). */
  Conform.prototype.find = function () {
    var self = this, c = this.choices;
    return this.wf.readSequence().then(function (r) {
      self.seq = r.seq;
      var takes = self.wf.store.load(r.seq.id).filter(function (t) { return !t.removed && t.items.length; });
      takes = takes.filter(function (t) { return wfMod.unchangedItems(r.facts, t).length > 0; });
      takes.sort(function (a, b) {
        var d = a.items[0].track - b.items[0].track;
        return d || (BigInt(a.items[0].start) < BigInt(b.items[0].start) ? -1 : 1);
      });
      var chain = Promise.resolve();
      takes.forEach(function (take) {
        chain = chain.then(function () { return self.client().get(take.jobId); }).then(function (job) {
          var result = (job && job.result) || {};
          if (!result.placeholder && !(c.includeClassical && result.engine === "classical")) return;
          var whereWords = where(take, r.seq);
          if (!wfMod.allUnchanged(r.facts, take)) {
            self.failed.push({ where: whereWords, reason: "it was changed on the sequence since it was placed, so it is not conformed" });
          } else if (!(result.takes || []).length) {
            self.failed.push({ where: whereWords, reason: "the server kept no take of its job " + take.jobId + " (rendered before takes were recorded)" });
          } else {
            self.units.push({ take: take, takeId: result.takes[0], where: whereWords, job: null, record: null, progress: 0 });
          }
        }, function (e) {
          if (!notFound(e)) throw e;
          self.failed.push({ where: where(take, r.seq), reason: "the server at " + self.client().baseUrl + " has no record of its job " +
            take.jobId + " (another server rendered it, or its job store was cleared): it cannot be re-rendered from there" });
        });
      });
      return chain.then(function () {
        if (!self.units.length && !self.failed.length) {
          throw new ShotForgeError("no_placeholder", "there is no ShotForge placeholder" + (c.includeClassical ? " or classical result" : "") +
            " on ‘" + r.seq.name + "’ to conform");
        }
        return self.units;
      });
    });
  };

  Conform.prototype.client = function () { return this.wf.client; };

  /** Ask for every re-render; a refusal is that take's failure, the others go on. */
  Conform.prototype.submit = function () {
    var self = this, chain = Promise.resolve();
    this.units.forEach(function (unit) {
      chain = chain.then(function () {
        var body = overrides(self.choices);
        return self.client().rerender(unit.takeId, body).then(function (id) {
          var request = clone(unit.take.request), sf = request.metadata.shotforge;
          if (body.engine) { sf.engine = body.engine; delete sf.model; }
          if (body.model) sf.model = body.model;
          if (body.seed != null) sf.seed = body.seed;
          unit.job = wfMod.jobOf(request, self.seq);
          unit.jobId = id;
        }, function (e) { unit.error = "the server refused the re-render: " + e.message; });
      });
    });
    return chain;
  };

  Conform.prototype.progress = function () {
    var sent = this.units.filter(function (u) { return u.jobId; });
    var ended = sent.filter(function (u) { return u.record && TERMINAL[u.record.state]; }).length;
    var total = sent.reduce(function (s, u) { return s + (u.record && TERMINAL[u.record.state] ? 1 : u.progress); }, 0);
    return { progress: sent.length ? total / sent.length : 1, stage: ended + " of " + sent.length + " re-renders finished", done: ended === sent.length };
  };

  /** Follow every re-render to its end, reporting progress over the whole conform. */
  Conform.prototype.follow = function () {
    var self = this;
    return Promise.all(this.units.filter(function (u) { return u.jobId; }).map(function (unit) {
      var control = { stopped: self.canceled };
      self.controls.push(control);
      return self.client().watch(unit.jobId, function (rec) {
        unit.progress = Number(rec.progress || 0);
        if (TERMINAL[rec.state]) unit.record = rec;
        self.onProgress(self.progress());
      }, control).then(function (rec) {
        unit.record = rec;
        if (rec.state === "failed") unit.error = "the re-render failed: " + ((rec.error && rec.error.message) || "no reason given");
        else if (rec.state === "canceled") unit.error = "its re-render was canceled";
        else if (rec.state !== "done") unit.error = "its re-render did not finish (" + rec.state + ")";
      });
    }));
  };

  /** Cancel every re-render still running; nothing is placed. */
  Conform.prototype.cancel = function () {
    var self = this;
    if (this.canceled) return Promise.resolve();
    this.canceled = true;
    this.controls.forEach(function (c) { c.stopped = true; });
    return Promise.all(this.units.filter(function (u) { return u.jobId && !(u.record && TERMINAL[u.record.state]); }).map(function (u) {
      return self.client().cancel(u.jobId).catch(function () { return null; });
    }));
  };

  /** Place each finished re-render in turn; one that fails (undone, the old take kept or back) is named. */
  Conform.prototype.place = function () {
    var self = this, chain = Promise.resolve();
    this.units.forEach(function (unit) {
      chain = chain.then(function () {
        if (unit.error || !unit.record || self.canceled) return null;
        var done;
        if (self.choices.mode === "swap") {
          unit.job.slot = wfMod.slotOf(unit.take);
          done = self.wf.swap(unit.take, unit.job, unit.record, {}).then(function (r) { return r.take; });
        } else {
          unit.job.placement = "auto";
          done = self.wf.place(unit.job, besideRecord(unit.record, unit.take), null, {});
        }
        return done.then(function (take) { unit.placed = take; }, function (e) { unit.error = e.message; });
      });
    });
    return chain;
  };

  Conform.prototype.summary = function () {
    var done = this.units.filter(function (u) { return u.placed; });
    var failed = this.units.filter(function (u) { return !u.placed; }).map(function (u) {
      return { where: u.where, reason: u.error || "it was not placed" };
    }).concat(this.failed);
    var count = this.units.length + this.failed.length;
    var text = "Conformed " + done.length + " of " + count + " ShotForge take" + (count === 1 ? "" : "s") + " (" +
      (this.choices.mode === "swap" ? "each swapped into its slot" : "each on a free track above its old take") + ").";
    if (failed.length) {
      text += " Not conformed: " + failed.map(function (f) { return f.where + ": " + String(f.reason).replace(/\.\s*$/, ""); }).join("; ") + ".";
    }
    return { state: "done", conformed: done.map(function (u) { return u.placed; }), failed: failed, message: text };
  };

  /** find, submit, follow, place; resolves the summary (state "canceled" when cancel() was called first). */
  Conform.prototype.run = function () {
    var self = this;
    return this.find().then(function () { return self.submit(); }).then(function () {
      self.onProgress(self.progress());
      return self.follow();
    }).then(function () {
      if (self.canceled) {
        return { state: "canceled", conformed: [], failed: [], message: "Conform canceled: the re-renders still running were canceled and nothing was placed; the sequence is unchanged." };
      }
      return self.place().then(function () { return self.summary(); });
    });
  };

  return { Conform: Conform, choices: choices, ENGINES: ENGINES, MODES: MODES };
});
