/*
 * ShotForge for Premiere Pro: the headless workflow (the CEP core's equivalent of
 * `shotforge_resolve.workflow.run(resolve, options)`). The panel drives it; automation and tests
 * drive it without a UI:
 *
 *   const { run, Workflow } = require("plugins/premiere_cep/js/sf_workflow.js");
 *   const out = await run(evalScript, { server: { url, token }, operation: "extend", track: "auto",
 *                                       side: "tail", frames: 24, engine: "classical" });
 *   // out.state: "placed" | "failed" | "canceled"; out.take: the placed take
 *
 * `evalScript(script, callback)` is CSInterface's in CEP (or a HostBridge). Steps: read the live
 * sequence, build the request (sf_core), render on the server (sf_client), plan where the result
 * goes on the LIVE sequence (sf_plan: free space only, overwrite only when confirmed), place it
 * (sf_host; the host reads every clip back), and on ANY failure remove everything this run placed
 * and prove the sequence is exactly as before. Every result is a take: named, coloured, with a
 * marker carrying its recipe, kept in a per-sequence history so "Remove last result" and "New
 * take" survive a panel reload. A take item placed with its sound carries `audio` (its audio
 * track, record range, source in, nodeId): removed, restored and rolled back with the clip.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) {
    module.exports = factory(require("./sf_core.js"), require("./sf_plan.js"), require("./sf_host.js"), require("./sf_client.js"));
  } else {
    root.ShotForgeWorkflow = factory(root.ShotForgeCore, root.ShotForgePlan, root.ShotForgeHostBridge, root.ShotForgeClient);
  }
})(typeof self !== "undefined" ? self : this, function (core, plan, hostMod, clientMod) {
  "use strict";

  var ShotForgeError = core.ShotForgeError;
  var STORE_PREFIX = "shotforge.premiere.takes.";
  var JOB_PREFIX = "shotforge.premiere.job.";

  function clone(v) { return JSON.parse(JSON.stringify(v)); }

  /** A take history kept in memory (tests, automation); `loadJob`/`saveJob` keep the job in flight. */
  function memoryStore() {
    var m = {}, jobs = {};
    return {
      load: function (seqId) { return clone(m[seqId] || []); },
      save: function (seqId, list) { m[seqId] = clone(list); },
      loadJob: function (seqId) { return jobs[seqId] ? clone(jobs[seqId]) : null; },
      saveJob: function (seqId, v) { if (v) jobs[seqId] = clone(v); else delete jobs[seqId]; },
    };
  }

  /** The take history and the job in flight in the panel's localStorage, per sequence (they survive panel reloads). */
  function localStore(storage) {
    function read(key, empty) {
      try { return JSON.parse(storage.getItem(key) || "null") || empty; } catch (e) { return empty; }
    }
    return {
      load: function (seqId) { return read(STORE_PREFIX + seqId, []); },
      save: function (seqId, list) { storage.setItem(STORE_PREFIX + seqId, JSON.stringify(list)); },
      loadJob: function (seqId) { return read(JOB_PREFIX + seqId, null); },
      saveJob: function (seqId, v) { storage.setItem(JOB_PREFIX + seqId, v ? JSON.stringify(v) : "null"); },
    };
  }

  function renderPaths(record) {
    var media = (record && record.result && record.result.media) || [];
    if (!media.length && record && record.result) media = (record.result.placements || []).map(function (p) { return p.media; });
    return media.filter(function (m, i) { return media.indexOf(m) === i; });
  }

  /** A placement failure that says whether the sequence is as before and where the render is
   *  (it is kept; Place again retries). `restored`: true, or a sentence saying what is not. */
  function notPlaced(e, record, restored) {
    var where = renderPaths(record);
    var err = new ShotForgeError(e.code || "placement_failed", (e.message || String(e)) + "\n" +
      (restored === true ? "Nothing was placed: the sequence is exactly as before." : restored) +
      (where.length ? "\nThe render is kept: " + where.join(", ") : ""));
    err.cause = e;
    err.renderPaths = where;
    err.destroys = e.destroys;
    return err;
  }

  /**
   * @param opts {host: HostBridge | evalScript function, client: Client | {url, token, pollMs},
   *              store: {load, save, loadJob, saveJob} (default: in memory; localStore(window.localStorage)
   *              in the panel), onRecord: fn(jobRecord), bridgeOptions}
   */
  function Workflow(opts) {
    opts = opts || {};
    this.host = typeof opts.host === "function" ? new hostMod.HostBridge(opts.host, opts.bridgeOptions) : opts.host;
    this.client = opts.client instanceof clientMod.Client || (opts.client && opts.client.submit) ? opts.client :
      new clientMod.Client({ baseUrl: (opts.client || {}).url, token: (opts.client || {}).token, pollMs: (opts.client || {}).pollMs });
    this.store = opts.store || memoryStore();
    this.onRecord = opts.onRecord || function () {};
    this.control = null;
  }

  Workflow.prototype.readSequence = function () {
    return this.host.facts().then(function (facts) { return { facts: facts, seq: core.readSequence(facts) }; });
  };

  /** What a job needs to be placed later (kept with the take for New take and Place again). */
  function jobOf(otio, seq) {
    var sf = otio.metadata.shotforge;
    var kinds = otio.tracks.children.map(function (t) { return t.kind; });
    return { request: otio, sequenceId: seq.id, sequenceName: seq.name, tpf: seq.tpf.toString(),
      requestTracks: kinds.filter(function (k) { return k !== "Audio"; }).length,
      requestAudioTracks: kinds.filter(function (k) { return k === "Audio"; }).length,
      targetTrack: sf.track, placement: sf.placement || "auto",
      operation: sf.operation, prompt: sf.prompt || "", seed: sf.seed };
  }

  /** Send `otio` and follow it to the end: resolves the final job record. `inFlight` ({job,
   *  replaces}) is kept in the store under the sequence while the job runs and until its result
   *  is placed, so a reloaded panel can follow it again (resume()). */
  Workflow.prototype.submit = function (otio, inFlight) {
    var self = this, seqId = inFlight && inFlight.job.sequenceId;
    return this.client.submit(otio).then(function (id) {
      if (inFlight) self.store.saveJob(seqId, { jobId: id, job: inFlight.job, replaces: inFlight.replaces || null });
      return self.follow(id);
    }).then(function (record) {
      if (inFlight && record.state !== "done") self.store.saveJob(seqId, null);
      return record;
    });
  };

  Workflow.prototype.follow = function (id) {
    var self = this;
    self.jobId = id;
    self.control = { stopped: false };
    self.onRecord({ id: id, state: "queued", progress: 0 });
    return self.client.watch(id, self.onRecord, self.control).then(function (record) {
      self.jobId = null;
      return record;
    });
  };

  Workflow.prototype.cancel = function () {
    return this.jobId ? this.client.cancel(this.jobId) : Promise.resolve();
  };

  /** Read the sequence, build the request for `options` (sf_core.buildRequest) and render it. An
   *  inpaint matte that does not exist is refused before anything is sent. */
  Workflow.prototype.render = function (options) {
    var self = this, job, build;
    return this.readSequence().then(function (r) {
      build = core.buildRequest(r.seq, options);
      job = jobOf(build.otio, r.seq);
      var mask = build.otio.metadata.shotforge.mask;
      return mask ? self.host.fileExists(mask).then(function (f) {
        if (!f.exists) {
          throw new ShotForgeError("mask_missing", "the matte file " + mask + " for " + core.clipWords(build.target.clip) +
            " does not exist (export the matte from Premiere, white where the picture is replaced, and give its path)");
        }
      }) : null;
    }).then(function () {
      return self.submit(build.otio, { job: job });
    }).then(function (record) { return { job: job, record: record }; });
  };

  /**
   * The job the panel had in flight on the active sequence when it was reloaded or closed: follow
   * it to its end. Resolves null when there is none, else {job, record, replaces (the take a New
   * take swaps out, or null), tried (a placement of it was already tried: offer Place again
   * rather than placing unasked)}; a job the server no longer knows is forgotten and rejects.
   */
  Workflow.prototype.resume = function () {
    var self = this, seqId, p;
    return this.readSequence().then(function (r) {
      seqId = r.seq.id;
      p = self.store.loadJob(seqId);
      if (!p) return null;
      return self.client.get(p.jobId).then(function (rec) {
        return rec.state === "done" || rec.state === "failed" || rec.state === "canceled" ? rec : self.follow(p.jobId);
      }, function (e) {
        self.store.saveJob(seqId, null);
        throw new ShotForgeError("job_lost", "the job started before the panel was reloaded (" + p.jobId + ") is not on the server any more: " +
          e.message + "\nNothing in the sequence was changed.");
      }).then(function (record) {
        if (record.state !== "done") self.store.saveJob(seqId, null);
        return { job: p.job, record: record, replaces: p.replaces, tried: !!p.tried };
      });
    });
  };

  /** Place a job resume() brought back: a new take is swapped in for the take it replaces, anything else placed as usual. */
  Workflow.prototype.placeResumed = function (out, opts) {
    var old = out.replaces && this.store.load(out.job.sequenceId).filter(function (t) { return t.id === out.replaces && !t.removed; })[0];
    if (out.replaces && !old) return Promise.reject(notPlaced(new ShotForgeError("no_take", "the take this new take was to replace is gone"), out.record, true));
    if (old) return this.swap(old, out.job, out.record, opts || {});
    var self = this;
    return this.prepare(out.job, out.record).then(function (prepared) { return self.place(out.job, out.record, prepared, opts); });
  };

  /** Plan the finished job's placements on the live sequence. Resolves {facts, seq, plan, destroys}.
   *  A new take's job carries `slot` (the replaced take's track and record range): it is placed
   *  exactly there or not at all. */
  Workflow.prototype.prepare = function (job, record) {
    var self = this;
    return this.readSequence().then(function (r) {
      if (r.seq.id !== job.sequenceId) {
        throw notPlaced(new ShotForgeError("sequence_changed", "the active sequence is not ‘" + job.sequenceName +
          "’, the one the job was made for: open it and press Place again"), record, true);
      }
      if (r.seq.tpf.toString() !== job.tpf) throw notPlaced(new ShotForgeError("sequence_changed", "the sequence frame rate changed since the job started"), record, true);
      var inFlight = self.store.loadJob(r.seq.id);
      if (inFlight && inFlight.jobId === record.id && !inFlight.tried) { inFlight.tried = true; self.store.saveJob(r.seq.id, inFlight); }
      var steps;
      try {
        steps = plan.planPlacements(r.seq, record.result && record.result.placements, { requestTracks: job.requestTracks,
          requestAudioTracks: job.requestAudioTracks, targetTrack: job.targetTrack, placement: job.placement,
          slotTrack: job.slot ? job.slot.track : null, slotAudioTrack: job.slot ? job.slot.audioTrack : null });
        if (job.slot) checkSlot(steps, job.slot, r.seq.tpf);
      } catch (e) { throw notPlaced(e, record, true); }
      return { facts: r.facts, seq: r.seq, plan: steps, destroys: plan.destroyedBy(steps) };
    });
  };

  /** The track, record range and sound's audio track a take fills (a new take must fill exactly the same). */
  function slotOf(take) {
    var tracks = take.items.map(function (it) { return it.track; });
    var sound = take.items.filter(function (it) { return it.audio; }).map(function (it) { return it.audio.track; });
    var start = take.items.reduce(function (m, it) { return BigInt(it.start) < m ? BigInt(it.start) : m; }, BigInt(take.items[0].start));
    var end = take.items.reduce(function (m, it) { return BigInt(it.end) > m ? BigInt(it.end) : m; }, BigInt(take.items[0].end));
    return { track: tracks.every(function (t) { return t === tracks[0]; }) ? tracks[0] : null, start: start.toString(),
      end: end.toString(), name: take.name, audioTrack: sound.length ? sound[0] : null };
  }

  function checkSlot(steps, slot, tpf) {
    var start = steps.reduce(function (m, s) { return BigInt(s.recordTicks) < m ? BigInt(s.recordTicks) : m; }, BigInt(steps[0].recordTicks));
    var end = steps.reduce(function (m, s) { return BigInt(s.recordEndTicks) > m ? BigInt(s.recordEndTicks) : m; }, BigInt(steps[0].recordEndTicks));
    if (start.toString() !== slot.start || end.toString() !== slot.end) {
      throw new ShotForgeError("not_same_slot", "the new render fills frames " + start / tpf + "-" + (end / tpf - 1n) + ", not " +
        BigInt(slot.start) / tpf + "-" + (BigInt(slot.end) / tpf - 1n) + " where ‘" + slot.name + "’ is");
    }
  }

  /** Remove what this run placed (last first) and its marker; then prove the sequence is as `before`.
   *  A removal that fails does not stop the others: the comparison says whether all went. */
  Workflow.prototype.rollback = function (placed, marker, before) {
    var self = this, chain = Promise.resolve();
    function quietly(p) { return p.catch(function () { return null; }); }
    placed.slice().reverse().forEach(function (it) {
      if (it.audio) chain = chain.then(function () { return quietly(self.host.removeClip(it.audio, true)); });
      chain = chain.then(function () { return quietly(self.host.removeClip(it)); });
    });
    if (marker) chain = chain.then(function () { return quietly(self.host.removeMarker(marker)); });
    return chain.then(function () { return self.host.facts(); }).then(function (facts) {
      return plan.snapshot(facts) === before;
    });
  };

  /** Replace the history entry with `take.id` (or add it), so a reloaded panel sees it as it is now. */
  Workflow.prototype.record = function (take) {
    var list = this.store.load(take.sequenceId).filter(function (t) { return t.id !== take.id; });
    list.push(take);
    this.store.save(take.sequenceId, list);
  };

  Workflow.prototype.forget = function (take) {
    this.store.save(take.sequenceId, this.store.load(take.sequenceId).filter(function (t) { return t.id !== take.id; }));
  };

  /**
   * Place a finished job as a take. opts: {confirmOverwrite: the list of what the editor agreed
   * may be destroyed (prepared.destroys as shown), or true (automation: what `prepared` lists),
   * number (take number; default the next for its operation on this sequence), replaces (the take id this one
   * swaps out)}. The sequence is read and planned again first (the editor may have edited while
   * a question was open): an overwrite goes ahead only when what it would destroy NOW is exactly
   * what was confirmed, else it is refused with `needs_confirmation` and the new list (ask again).
   * Resolves the take; on any failure everything placed here is removed again and the error says
   * where the render is.
   */
  Workflow.prototype.place = function (job, record, prepared, opts) {
    opts = opts || {};
    var self = this;
    var agreed = Array.isArray(opts.confirmOverwrite) ? opts.confirmOverwrite :
      opts.confirmOverwrite && prepared ? prepared.destroys : [];
    return this.prepare(job, record).then(function (live) {
      if (live.destroys.length && !plan.sameOccupants(agreed, live.destroys)) {
        var e = new ShotForgeError("needs_confirmation", (agreed.length ? "what the overwrite would destroy changed since it was confirmed; " : "") +
          "overwriting destroys " + live.destroys.length + " item(s) of the edit: confirm " + (agreed.length ? "again" : "it first"));
        e.destroys = live.destroys;
        throw notPlaced(e, record, true);
      }
      return self.placeOn(job, record, live, opts);
    });
  };

  Workflow.prototype.placeOn = function (job, record, live, opts) {
    var self = this, seq = live.seq;
    var history = this.store.load(seq.id);
    var result = record.result || {};
    var number = opts.number || plan.nextTakeNumber(history, job.operation, seq);
    var take = {
      id: record.id + ":" + number, sequenceId: seq.id, operation: job.operation, number: number,
      name: plan.takeName(job.operation, number), colorLabel: plan.COLOR_LABEL[job.operation],
      jobId: record.id, engine: result.engine || "", model: result.model || "", placeholder: !!result.placeholder,
      notes: (result.notes || []).map(String),
      prompt: job.prompt, seed: job.seed, request: job.request, media: renderPaths(record),
      overwrote: live.destroys, items: [], marker: null, removed: false, replaces: opts.replaces || null,
      // Until the marker is on, the take is "placing": a panel reloaded meanwhile takes it off again (recover()).
      placing: true,
    };
    var before = plan.snapshot(live.facts);
    var chain = Promise.resolve();
    // Every file a step places (an extension's handles come from the original media, already in the project).
    var files = live.plan.map(function (s) { return s.media; });
    files.filter(function (f, i) { return files.indexOf(f) === i; }).forEach(function (f) {
      chain = chain.then(function () { return self.host.importMedia(f); });
    });
    live.plan.forEach(function (step) {
      chain = chain.then(function () {
        var confirmed = step.overwrite ? plan.confirmedOn(live.destroys, step.track) : [];
        // Recorded before the host call: if the panel dies after Premiere placed it but before the
        // answer came, recover() still finds it (by slot, name and source in).
        var item = { track: step.track, requestedTrack: step.requestedTrack, start: step.recordTicks, end: step.recordEndTicks,
          name: take.name, inPoint: step.sourceInTicks, media: step.media, recordTicks: step.recordTicks,
          recordEndTicks: step.recordEndTicks, sourceInTicks: step.sourceInTicks, sourceOutTicks: step.sourceOutTicks };
        if (step.audioTrack != null) {
          item.audio = { track: step.audioTrack, start: step.recordTicks, end: step.recordEndTicks, name: take.name, inPoint: step.sourceInTicks };
        }
        take.items.push(item);
        self.record(take);
        return self.host.place(seq, step, take, confirmed).then(function (r) {
          Object.assign(item, { start: r.start, end: r.end, name: r.name, nodeId: r.nodeId, inPoint: r.inPoint,
            mediaPath: r.mediaPath, label: r.label });
          if (item.audio) Object.assign(item.audio, r.audio);
          self.record(take);
        });
        // On a failure the item stays listed: the host removed what it placed, but when the answer
        // itself was lost (an empty evalScript callback) the rollback still takes the clip off.
      });
    });
    chain = chain.then(function () {
      var slot = slotOf(take);
      return self.host.addMarker(seq, slot.start, slot.end, take.name, plan.takeComments(take)).then(function (m) {
        take.marker = { guid: m.guid, start: m.start, end: m.end, name: m.name };
      });
    });
    // The host checked its own clips; what else an overwrite's sound may have cut (a layout that
    // spreads over more audio tracks than one, unmeasured) shows only in the sequence itself.
    chain = chain.then(function () { return self.host.facts(); }).then(function (facts) {
      take.cut = soundCut(before, plan.snapshot(facts));
    });
    return chain.then(function () {
      take.labelled = take.items.every(function (it) { return it.label === take.colorLabel; });
      take.placing = false;
      self.record(take);
      var inFlight = self.store.loadJob(seq.id);
      if (inFlight && inFlight.jobId === record.id) self.store.saveJob(seq.id, null);
      return take;
    }, function (err) {
      return self.rollback(take.items, take.marker, before).then(function (same) {
        self.forget(take);
        // What a confirmed overwrite covered cannot be rebuilt from the DOM: say so instead of "as before".
        throw notPlaced(err, record, same ? true : live.destroys.length ?
          "ShotForge's clips were removed again, but what the overwrite covered can only come back with Edit > Undo." :
          "The sequence could not be restored exactly: check it (Edit > Undo).");
      });
    });
  };

  /** The editor's sound clips in snapshot `before` (plan.snapshot) that snapshot `after` no longer
   *  holds as they were: ["'Music' on A2", ...]. Nothing ShotForge places overwrites sound. */
  function soundCut(before, after) {
    var now = {};
    JSON.parse(after).audio.forEach(function (t, i) {
      t.clips.forEach(function (c) { now[i + ":" + JSON.stringify(c)] = true; });
    });
    var cut = [];
    JSON.parse(before).audio.forEach(function (t, i) {
      t.clips.forEach(function (c) {
        if (!now[i + ":" + JSON.stringify(c)]) cut.push("‘" + c[0] + "’ on " + core.audioTrackLabel(i));
      });
    });
    return cut;
  }

  /** The last take of the active sequence that is still on it (not removed or replaced). */
  Workflow.prototype.lastTake = function (seqId) {
    var list = this.store.load(seqId).filter(function (t) { return !t.removed; });
    return list.length ? list[list.length - 1] : null;
  };

  /** Whether clip facts `c` are the take item `it` as placed: track, record range, name, and (when
   *  known) source in and media file, so an editor's clip that merely shares the name and slot is
   *  never taken for the take's. */
  function isItem(c, it) {
    return c.start === it.start && c.end === it.end && c.name === it.name &&
      (it.inPoint == null || c.inPoint === it.inPoint) && (it.mediaPath == null || c.mediaPath === it.mediaPath);
  }

  /** Which of `take`'s clips are on the sequence exactly as placed. */
  function unchangedItems(facts, take) {
    return take.items.filter(function (it) {
      var t = facts.sequence.videoTracks[it.track];
      return t && t.clips.some(function (c) { return isItem(c, it); });
    });
  }

  /** Whether the sound placed with take item `it` is on its audio track exactly as placed. */
  function soundThere(facts, it) {
    var t = it.audio && (facts.sequence.audioTracks || [])[it.audio.track];
    return !!t && t.clips.some(function (c) { return isItem(c, it.audio); });
  }

  /** Whether every clip of `take` and its sound is on the sequence exactly as placed. */
  function allUnchanged(facts, take) {
    return unchangedItems(facts, take).length === take.items.length &&
      take.items.every(function (it) { return !it.audio || soundThere(facts, it); });
  }

  function markerPresent(facts, m) {
    return !!m && (facts.sequence.markers || []).some(function (x) { return m.guid ? x.guid === m.guid : x.start === m.start && x.name === m.name; });
  }

  /** Whether the clip or sound `x` (a take item or its `audio`, with the nodeId its read-back gave)
   *  is still on the sequence's `kind` tracks, changed or not. */
  function onSequence(facts, x, kind) {
    var tracks = kind === "audio" ? facts.sequence.audioTracks : facts.sequence.videoTracks;
    return !!x.nodeId && (tracks || []).some(function (t) { return t.clips.some(function (c) { return c.nodeId === x.nodeId; }); });
  }

  /** Remove `take`'s clips and sound that are unchanged, and its marker; resolves {kept: [items left]}
   *  (a sound item is {audio: true, track, start, end, ...}). A clip and its sound are one linked
   *  placement: when the editor changed one half and it is still there, the unchanged half stays
   *  too (Premiere may remove linked items together, which would take the changed half along). An
   *  unchanged item that is gone by the time it is removed went with the clip it is linked to. */
  Workflow.prototype.unplace = function (take, facts) {
    var self = this;
    var same = unchangedItems(facts, take);
    var kept = [], pictures = [], sounds = [];
    take.items.forEach(function (it) {
      var video = same.indexOf(it) >= 0, sound = !it.audio || soundThere(facts, it);
      var hold = !!it.audio && video !== sound && (video ? onSequence(facts, it.audio, "audio") : onSequence(facts, it, "video"));
      (video && !hold ? pictures : kept).push(it);
      if (!it.audio) return;
      if (sound && !hold) sounds.push(it.audio);
      else kept.push(Object.assign({ audio: true }, it.audio));
    });
    var chain = Promise.resolve();
    sounds.forEach(function (a) { chain = chain.then(function () { return self.host.removeClip(a, true); }); });
    pictures.forEach(function (it) { chain = chain.then(function () { return self.host.removeClip(it); }); });
    if (markerPresent(facts, take.marker)) chain = chain.then(function () { return self.host.removeMarker(take.marker); });
    return chain.then(function () { return { kept: kept }; });
  };

  /**
   * "Remove last result": takes exactly the last take's clips and marker off the active sequence.
   * Clips the editor moved, trimmed or deleted since are left alone and listed in `kept`.
   */
  Workflow.prototype.removeLast = function () {
    var self = this, take;
    return this.readSequence().then(function (r) {
      take = self.lastTake(r.seq.id);
      if (!take) throw new ShotForgeError("no_take", "there is no ShotForge result on ‘" + r.seq.name + "’ to remove");
      return self.unplace(take, r.facts).then(function (u) {
        take.removed = true;
        self.record(take);
        return { take: take, kept: u.kept };
      });
    });
  };

  /**
   * A placement cut short (the panel was reloaded or closed while it ran) left a take marked
   * "placing": its clips and marker come off again, as with any failed placement. A take that
   * was being swapped for a new one and is no longer on the sequence is put back. Resolves the
   * takes taken off ([] when none).
   */
  Workflow.prototype.recover = function () {
    var self = this, seq;
    return this.readSequence().then(function (r) {
      seq = r.seq;
      var list = self.store.load(seq.id);
      var cut = list.filter(function (t) { return t.placing && !t.removed; });
      var swapped = list.filter(function (t) { return t.swapping && !t.removed && !t.placing; });
      var chain = Promise.resolve();
      cut.forEach(function (take) {
        chain = chain.then(function () { return self.host.facts(); }).then(function (facts) {
          return self.unplace(take, facts);
        }).then(function (u) {
          // An item without a nodeId was never confirmed placed: not finding it means it never landed.
          take.kept = u.kept.filter(function (it) { return !!it.nodeId; });
          self.forget(take);
        });
      });
      swapped.forEach(function (old) {
        chain = chain.then(function () { return self.host.facts(); }).then(function (facts) {
          return allUnchanged(facts, old) ? null : self.restore(old, seq);
        }).then(function () { old.swapping = false; self.record(old); });
      });
      return chain.then(function () { return cut; });
    });
  };

  /** Put a removed take back exactly where it was (its clips, name, colour and marker). */
  Workflow.prototype.restore = function (take, seq) {
    var self = this;
    return this.host.facts().then(function (facts) {
      // Only what is not there: a swap can fail half-way through taking the old take off.
      var present = unchangedItems(facts, take), markerThere = markerPresent(facts, take.marker), chain = Promise.resolve();
      take.items.forEach(function (it) {
        var video = present.indexOf(it) >= 0, sound = !!it.audio && soundThere(facts, it);
        if (video && (!it.audio || sound)) return;
        // The clip and its sound go back together (one linked placement): a half still there comes off first.
        if (video) chain = chain.then(function () { return self.host.removeClip(it); });
        if (sound) chain = chain.then(function () { return self.host.removeClip(it.audio, true); });
        chain = chain.then(function () {
          var step = { media: it.media, track: it.track, recordTicks: it.recordTicks, recordEndTicks: it.recordEndTicks,
            sourceInTicks: it.sourceInTicks, sourceOutTicks: it.sourceOutTicks, audioTrack: it.audio ? it.audio.track : null };
          return self.host.place(seq, step, take, []).then(function (r) {
            Object.assign(it, { nodeId: r.nodeId, inPoint: r.inPoint, mediaPath: r.mediaPath });
            if (it.audio) Object.assign(it.audio, r.audio);
          });
        });
      });
      return chain.then(function () {
        if (markerThere) return null;
        return self.host.addMarker(seq, take.marker.start, take.marker.end, take.name, plan.takeComments(take)).then(function (m) {
          take.marker.guid = m.guid;
        });
      });
    });
  };

  /**
   * "New take": re-render the last take's request with a new seed (default: the old seed + 1)
   * and/or prompt, then swap it into the same slot (the same track and record range, or not at
   * all): the old take's clips and marker come off and the new take (number N+1) goes on. If
   * the new one cannot be placed, the old take is put back exactly and the error says where the
   * new render is. opts: {seed, prompt, confirmOverwrite}. Resolves {take, replaced} or {record}
   * when the job did not finish.
   */
  Workflow.prototype.newTake = function (opts) {
    opts = opts || {};
    var self = this, old, job;
    return this.readSequence().then(function (r) {
      old = self.lastTake(r.seq.id);
      if (!old) throw new ShotForgeError("no_take", "there is no ShotForge result on ‘" + r.seq.name + "’ to make a new take of");
      var request = clone(old.request), sf = request.metadata.shotforge;
      sf.seed = opts.seed != null && opts.seed !== "" ? Number(opts.seed) : old.seed + 1;
      if (!Number.isInteger(sf.seed) || sf.seed < 0) throw new ShotForgeError("bad_seed", "the seed must be a whole number, 0 or more");
      if (opts.prompt != null) sf.prompt = String(opts.prompt);
      job = jobOf(request, r.seq);
      job.slot = slotOf(old);
      return self.submit(request, { job: job, replaces: old.id });
    }).then(function (record) {
      if (record.state !== "done") return { record: record };
      return self.swap(old, job, record, opts);
    });
  };

  /** Swap the finished new take `record` in for `old` (see newTake). */
  Workflow.prototype.swap = function (old, job, record, opts) {
    var self = this;
    return self.readSequence().then(function (r) {
      if (!allUnchanged(r.facts, old)) {
        throw notPlaced(new ShotForgeError("take_changed", "‘" + old.name + "’ was changed on the sequence since it was placed, " +
          "so it is not swapped"), record, true);
      }
      var before = plan.snapshot(r.facts);
      // "swapping" until the new take is on or the old one is back: a reload meanwhile puts it back (recover()).
      old.swapping = true;
      self.record(old);
      return self.unplace(old, r.facts).then(function () {
        return self.place(job, record, null, { replaces: old.id, confirmOverwrite: opts.confirmOverwrite || [] });
      }).then(function (take) {
        old.removed = true;
        old.swapping = false;
        old.replacedBy = take.id;
        self.record(old);
        // Keep the new take last in the history.
        self.record(take);
        return { take: take, replaced: old, record: record };
      }, function (err) {
        // The editor is told where the new render is; a reload must not try this swap again.
        var inFlight = self.store.loadJob(r.seq.id);
        if (inFlight && inFlight.jobId === record.id) self.store.saveJob(r.seq.id, null);
        return self.restore(old, r.seq).then(function () { return self.host.facts(); }).then(function (facts) {
          old.swapping = false;
          self.record(old);
          err.message += plan.snapshot(facts) === before ? "\n‘" + old.name + "’ is back in its place, exactly as before." :
            "\n‘" + old.name + "’ could not be put back exactly: check the sequence (Edit > Undo).";
          throw err;
        }, function (e2) {
          err.message += "\n‘" + old.name + "’ could not be put back (" + (e2.message || e2) + "): its render is " +
            old.media.join(", ") + "; check the sequence (Edit > Undo).";
          throw err;
        });
      });
    });
  };

  /**
   * Headless: render `options` (sf_core.buildRequest's options plus {server: {url, token},
   * confirmOverwrite}) and place the result as a take. Resolves {state: "placed", take, record}
   * or {state: "failed" | "canceled", record}; rejects with a ShotForgeError otherwise (its
   * renderPaths say where a finished render is when it could not be placed).
   */
  function run(evalScript, options) {
    options = options || {};
    var wf = options.workflow || new Workflow({ host: evalScript, client: options.server || {}, store: options.store,
      onRecord: options.onRecord, bridgeOptions: options.bridgeOptions });
    return wf.render(options).then(function (r) {
      if (r.record.state !== "done") return { state: r.record.state, record: r.record };
      return wf.prepare(r.job, r.record).then(function (prepared) {
        return wf.place(r.job, r.record, prepared, { confirmOverwrite: !!options.confirmOverwrite });
      }).then(function (take) { return { state: "placed", take: take, record: r.record }; });
    });
  }

  return { Workflow: Workflow, run: run, memoryStore: memoryStore, localStore: localStore, renderPaths: renderPaths,
    // for sf_conform: a take's clips as placed, a request as a job, a take's slot
    unchangedItems: unchangedItems, allUnchanged: allUnchanged, jobOf: jobOf, slotOf: slotOf };
});
