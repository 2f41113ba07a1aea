/*
 * ShotForge for Premiere Pro: where results go, and what a take is (pure; browser + node).
 *
 * Premiere's overwrite destroys whatever it covers (clips cut or removed, transitions removed)
 * and its documented DOM cannot add a track. So a result goes only into free space: the track
 * the server chose when the whole range is free there on the LIVE sequence (clips and
 * transitions count), else the lowest existing video track above that is free over the whole
 * range; with none, the plan fails and says how to make room. `overwrite` is planned only when
 * the request asked for it, and each step then lists exactly what it would destroy so the panel
 * can ask the editor first. A result's sound (room tone, `audio_track`) goes on an audio track
 * free over the same frames, never over anything (see chooseAudio).
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory(require("./sf_core.js"));
  else root.ShotForgePlan = factory(root.ShotForgeCore);
})(typeof self !== "undefined" ? self : this, function (core) {
  "use strict";

  var ShotForgeError = core.ShotForgeError;
  var OP_WORDS = { extend: "extend", fill_gap: "fill gap", outpaint: "outpaint", generate: "generate", inpaint: "inpaint" };
  // One Premiere label colour (index 0..15) per operation, so takes read at a glance.
  var COLOR_LABEL = { extend: 2, fill_gap: 4, outpaint: 7, generate: 11, inpaint: 9 };

  /** What video track `k` holds over frames [start, end): clips and transitions. */
  function occupantsOf(seq, k, start, end) {
    var t = seq.tracks[k], out = [];
    t.clips.forEach(function (c) {
      if (c.start < end && start < c.end) out.push(occupant("clip", c, k));
    });
    (t.transitions || []).forEach(function (x) {
      if (x.start < end && start < x.end) out.push(occupant("transition", x, k));
    });
    return out;
  }

  /** Whether audio track `a` holds anything (clips, audio transitions) over frames [start, end). */
  function audioBusy(seq, a, start, end) {
    var t = seq.audioTracks[a];
    return t.clips.concat(t.transitions || []).some(function (x) { return x.start < end && start < x.end; });
  }

  function occupant(kind, x, k) {
    return { kind: kind, nodeId: x.nodeId || "", name: x.name, start: x.start, end: x.end, track: k,
      startTicks: x.startTicks.toString(), endTicks: x.endTicks.toString() };
  }

  function occupantKey(o) {
    return [o.kind, o.track, o.nodeId, o.name, o.startTicks, o.endTicks].join("|");
  }

  /** True when two overwrite lists name exactly the same clips and transitions (identity and span). */
  function sameOccupants(a, b) {
    var ka = (a || []).map(occupantKey).sort(), kb = (b || []).map(occupantKey).sort();
    return ka.length === kb.length && ka.every(function (k, i) { return k === kb[i]; });
  }

  /** What the editor agreed may be overwritten on `track`, as the host checks it: [{kind, nodeId, name, start, end}]. */
  function confirmedOn(list, track) {
    return list.filter(function (o) { return o.track === track; }).map(function (o) {
      return { kind: o.kind, nodeId: o.nodeId, name: o.name, start: o.startTicks, end: o.endTicks };
    });
  }

  function checkPlacement(p, i) {
    var where = "placement " + (i + 1);
    ["track", "record_frame", "source_in", "frames"].forEach(function (k) {
      if (!Number.isInteger(p[k])) throw new ShotForgeError("bad_placement", where + ": " + k + " is not a whole number (" + JSON.stringify(p[k]) + ")");
    });
    if (!p.media || typeof p.media !== "string") throw new ShotForgeError("bad_placement", where + " names no media file");
    if (p.frames < 1) throw new ShotForgeError("bad_placement", where + " places " + p.frames + " frames");
    if (p.record_frame < 0) throw new ShotForgeError("bad_placement", where + " starts before the sequence (record frame " + p.record_frame + ")");
    if (p.source_in < 0) throw new ShotForgeError("bad_placement", where + " starts before its media (source frame " + p.source_in + ")");
    if (p.audio_track != null && !(Number.isInteger(p.audio_track) && p.audio_track >= 0)) {
      throw new ShotForgeError("bad_placement", where + ": audio_track is not an audio track index (" + JSON.stringify(p.audio_track) + ")");
    }
  }

  /**
   * The live audio track for each placement that brings sound (`audio_track`), or null. Sound goes
   * only into free space, even under a confirmed video overwrite: the server's track when it is
   * free over the whole range on the LIVE sequence, else (and for the server's "a new track", the
   * request's audio track count) the lowest audio track free there; a new take's sound goes on
   * the audio track of the take it replaces or nowhere. The sound of one result stays on one track.
   */
  function chooseAudio(seq, placements, requestAudio, slotAudio) {
    var count = seq.audioTracks.length, groups = {}, taken = {}, chosen = {};
    placements.forEach(function (p, i) {
      if (p.audio_track == null) return;
      if (p.audio_track > requestAudio) {
        throw new ShotForgeError("bad_placement", "placement " + (i + 1) + " is for audio track " + (p.audio_track + 1) +
          " but the sequence had " + requestAudio);
      }
      (groups[p.audio_track] = groups[p.audio_track] || []).push(p);
    });
    Object.keys(groups).map(Number).sort(function (a, b) { return a - b; }).forEach(function (requested) {
      var ranges = groups[requested].map(function (p) { return [p.record_frame, p.record_frame + p.frames]; });
      function free(a) {
        return ranges.every(function (r) {
          return !audioBusy(seq, a, r[0], r[1]) && !(taken[a] || []).some(function (t) { return t[0] < r[1] && r[0] < t[1]; });
        });
      }
      var first = ranges[0][0], last = ranges[ranges.length - 1][1], track = -1;
      if (slotAudio != null) {
        if (slotAudio < count && free(slotAudio)) track = slotAudio;
        else throw new ShotForgeError("slot_taken", core.audioTrackLabel(slotAudio) + " is not free over frames " + first + "-" + (last - 1) +
          " any more, where the take's sound was");
      } else if (requested < requestAudio && requested < count && free(requested)) track = requested;
      else {
        for (var a = 0; a < count && track < 0; a++) if (free(a)) track = a;
        if (track < 0) {
          throw new ShotForgeError("no_free_audio_track", "the result has sound (room tone) and no audio track is empty over frames " +
            first + "-" + (last - 1) + ", and Premiere's scripting cannot add tracks: add an empty audio track " +
            "(Sequence > Add Tracks) and press Place again");
        }
      }
      chosen[requested] = track;
      ranges.forEach(function (r) { (taken[track] = taken[track] || []).push(r); });
    });
    return placements.map(function (p) { return p.audio_track == null ? null : chosen[p.audio_track]; });
  }

  /**
   * Turn the server's placements into host steps on the live sequence `seq`, checking everything
   * before anything is touched. opts: {requestTracks (video tracks the request had: the server's
   * "new track" index), requestAudioTracks (audio tracks the request had: the server's "new audio
   * track" index), targetTrack (the request's track), placement ("auto"|"above"|"overwrite"),
   * slotTrack / slotAudioTrack (a new take: the tracks of the take it replaces, used or refused)}.
   * Placements the server put on the same track stay together on one track (an extension's
   * handle frames and generated frames must not be split over two tracks).
   * Returns [{media, requestedTrack, track, recordFrame, frames, recordTicks, recordEndTicks,
   *           sourceIn, sourceInTicks, sourceOutTicks, overwrite, occupants, audioTrack (live audio
   *           track index for the media's sound, or null)}].
   */
  function planPlacements(seq, placements, opts) {
    opts = opts || {};
    if (!Array.isArray(placements) || placements.length === 0) {
      throw new ShotForgeError("no_placements", "the server finished but returned nothing to place");
    }
    placements.forEach(checkPlacement);
    var above = opts.requestTracks != null ? opts.requestTracks : seq.tracks.length;
    var overwrite = opts.placement === "overwrite";
    var groups = {};
    placements.forEach(function (p, i) {
      if (p.track < 0 || (p.track >= seq.tracks.length && p.track !== above)) {
        throw new ShotForgeError("bad_placement", "placement " + (i + 1) + " is for video track " + (p.track + 1) +
          " but the sequence has " + seq.tracks.length);
      }
      (groups[p.track] = groups[p.track] || []).push(p);
    });
    var taken = {}; // track -> [[start, end)] claimed by this job's earlier groups
    var chosen = {};
    Object.keys(groups).map(Number).sort(function (a, b) { return a - b; }).forEach(function (requested) {
      var ranges = groups[requested].map(function (p) { return [p.record_frame, p.record_frame + p.frames]; });
      function free(k) {
        return ranges.every(function (r) {
          return occupantsOf(seq, k, r[0], r[1]).length === 0 &&
            !(taken[k] || []).some(function (t) { return t[0] < r[1] && r[0] < t[1]; });
        });
      }
      var exists = requested < seq.tracks.length;
      var track = -1;
      if (opts.slotTrack != null) {
        // A new take goes exactly where the take it replaces was, or nowhere.
        var slot = opts.slotTrack;
        if (slot < seq.tracks.length && ((overwrite && slot === requested) || free(slot))) track = slot;
        else {
          throw new ShotForgeError("slot_taken", core.trackLabel(slot) + " is not free over frames " + ranges[0][0] + "-" +
            (ranges[ranges.length - 1][1] - 1) + " any more, where the take was");
        }
      } else if (exists && (overwrite || free(requested))) track = requested;
      else {
        var base = exists ? requested : (opts.targetTrack != null ? opts.targetTrack : -1);
        for (var k = base + 1; k < seq.tracks.length && track < 0; k++) if (free(k)) track = k;
        if (track < 0) {
          var first = ranges[0][0], last = ranges[ranges.length - 1][1];
          throw new ShotForgeError("no_free_track", "no video track above " + (base >= 0 ? core.trackLabel(base) : "the shot") +
            " is empty over frames " + first + "-" + (last - 1) + ", and Premiere's scripting cannot add tracks: " +
            "add an empty video track (Sequence > Add Tracks) and press Place again");
        }
      }
      chosen[requested] = track;
      ranges.forEach(function (r) { (taken[track] = taken[track] || []).push(r); });
    });
    var audio = chooseAudio(seq, placements, opts.requestAudioTracks != null ? opts.requestAudioTracks : seq.audioTracks.length,
      opts.slotAudioTrack);
    return placements.map(function (p, i) {
      var start = p.record_frame, end = p.record_frame + p.frames, track = chosen[p.track];
      // Media frames are at the media's rate: the server renders at the sequence rate; original
      // media (extend handles) may say its own rate in `rate` ([num, den] or a number).
      var mtpf = mediaTicksPerFrame(p.rate, seq);
      var isOverwrite = overwrite && track === p.track;
      return {
        media: p.media,
        requestedTrack: p.track,
        track: track,
        recordFrame: start,
        frames: p.frames,
        recordTicks: core.ticksString(start, seq.tpf),
        recordEndTicks: core.ticksString(end, seq.tpf),
        sourceIn: p.source_in,
        sourceInTicks: (BigInt(p.source_in) * mtpf).toString(),
        sourceOutTicks: (BigInt(p.source_in + p.frames) * mtpf).toString(),
        overwrite: isOverwrite,
        occupants: isOverwrite ? occupantsOf(seq, track, start, end) : [],
        audioTrack: audio[i],
      };
    });
  }

  /** Everything an overwrite plan destroys, one line per clip or transition, for the confirmation. */
  function destroyedBy(plan) {
    var seen = {}, out = [];
    plan.forEach(function (s) {
      s.occupants.forEach(function (o) {
        var key = [o.kind, o.track, o.name, o.start, o.end].join("|");
        if (!seen[key]) { seen[key] = true; out.push(o); }
      });
    });
    return out;
  }

  function mediaTicksPerFrame(rate, seq) {
    if (rate == null) return seq.tpf;
    var num, den;
    if (Array.isArray(rate)) { num = BigInt(rate[0]); den = BigInt(rate[1]); }
    else if (typeof rate === "object" && rate.num) { num = BigInt(rate.num); den = BigInt(rate.den); }
    else {
      var r = Number(rate);
      var n = Math.round(r * 1001 / 1000);
      if (Math.abs(r - Math.round(r)) > 0.005 && Math.abs(r - n * 1000 / 1001) < 0.005) { num = BigInt(n * 1000); den = 1001n; }
      else { num = BigInt(Math.round(r)); den = 1n; }
    }
    if ((core.TICKS_PER_SECOND * den) % num !== 0n) throw new ShotForgeError("bad_rate", "media rate " + num + "/" + den + " is not a whole number of ticks per frame");
    return (core.TICKS_PER_SECOND * den) / num;
  }

  /** The edit as the host reports it (video clips, transitions, audio items, markers), to prove a
   *  failed or undone placement left the sequence exactly as before. */
  function snapshot(facts) {
    var s = facts.sequence;
    function clip(c) { return [c.name, c.start, c.end, c.inPoint, c.outPoint, c.mediaPath, !!c.disabled]; }
    function span(x) { return [x.name, x.start, x.end]; }
    function sound(c) { return [c.name, c.start, c.end, c.inPoint, c.mediaPath]; }
    return JSON.stringify({
      video: (s.videoTracks || []).map(function (t) { return { clips: (t.clips || []).map(clip), transitions: (t.transitions || []).map(span) }; }),
      audio: (s.audioTracks || []).map(function (t) { return { clips: (t.clips || []).map(sound), transitions: (t.transitions || []).map(span) }; }),
      markers: (s.markers || []).map(function (m) { return [m.name, m.comments, m.start, m.end]; }),
    });
  }

  // ---------------------------------------------------------------- takes

  function takeName(operation, n) {
    return "ShotForge " + (OP_WORDS[operation] || operation) + " take " + n;
  }

  /** The next take number for `operation`: past every take in the sequence's history and every
   *  clip on the live sequence `seq` already named like one (a history lost with the panel's
   *  storage must not give a second "take 1": names are how the host tells its clips apart). */
  function nextTakeNumber(history, operation, seq) {
    var n = (history || []).reduce(function (m, t) { return t.operation === operation ? Math.max(m, t.number) : m; }, 0);
    var prefix = takeName(operation, "");
    ((seq && seq.tracks) || []).forEach(function (t) {
      t.clips.forEach(function (c) {
        var rest = c.name.indexOf(prefix) === 0 ? c.name.slice(prefix.length) : "";
        if (/^\d+$/.test(rest)) n = Math.max(n, Number(rest));
      });
    });
    return n + 1;
  }

  /** The take marker's comments: who made it and how (job id, engine, model, prompt, seed). */
  function takeComments(take) {
    var lines = ["job: " + take.jobId, "engine: " + (take.engine || "?"), "model: " + (take.model || "none"),
      "prompt: " + (take.prompt || ""), "seed: " + take.seed];
    if (take.placeholder) lines.push("placeholder: re-render with a model engine");
    return lines.join("\n");
  }

  return {
    COLOR_LABEL: COLOR_LABEL,
    occupantsOf: occupantsOf,
    sameOccupants: sameOccupants,
    confirmedOn: confirmedOn,
    planPlacements: planPlacements,
    destroyedBy: destroyedBy,
    mediaTicksPerFrame: mediaTicksPerFrame,
    snapshot: snapshot,
    takeName: takeName,
    nextTakeNumber: nextTakeNumber,
    takeComments: takeComments,
  };
});
