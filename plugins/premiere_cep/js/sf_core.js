/*
 * ShotForge for Premiere Pro: the pure editorial core of the panel.
 *
 * No DOM, no HTTP, no ExtendScript: this file turns the sequence facts gathered by the host
 * script (jsx/host.jsx, all times as integer tick STRINGS) into
 *   - the request: an OpenTimelineIO timeline (OTIO JSON, schemas Timeline.1 / Stack.1 /
 *     Track.1 / Clip.2 / Gap.1 / ExternalReference.1) with metadata.shotforge (DESIGN.md), and
 *   - a placement plan: for each placement the server returns, the exact ticks at which the
 *     host must put which frames of which file on which track.
 *
 * Time: Premiere counts 254016000000 ticks per second; a sequence's `timebase` is the ticks of
 * one frame. Tick counts pass 2^53 after about 9.9 hours (a 10:00:00:00 zero point is common in
 * broadcast), so all tick arithmetic here is BigInt and frame counts are exact integer
 * divisions. Record frames are counted from the sequence's first frame: TrackItem.start/end do
 * not include seq.zeroPoint, which becomes the OTIO timeline's global_start_time.
 *
 * Runs in CEP's Chromium (CEP 11: Chromium 88+, BigInt available) and in node (tests). A UXP
 * port reuses this file unchanged; only the host layer changes.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.ShotForgeCore = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var TICKS_PER_SECOND = 254016000000n;
  var OPERATIONS = ["extend", "fill_gap", "outpaint", "generate"];
  var DEFAULT_PLACEMENT = { extend: "overwrite", fill_gap: "overwrite", outpaint: "above", generate: "above" };

  /** A user-facing error: `code` is stable, `message` is said in an editor's words. */
  class ShotForgeError extends Error {
    constructor(code, message) {
      super(message);
      this.name = "ShotForgeError";
      this.code = code;
    }
  }

  // ---------------------------------------------------------------- ticks and frames

  /** Integer ticks from a DOM tick string (or number / bigint); throws on anything else. */
  function ticks(value, what) {
    if (typeof value === "bigint") return value;
    if (typeof value === "number" && Number.isInteger(value)) return BigInt(value);
    if (typeof value === "string" && /^-?\d+$/.test(value.trim())) return BigInt(value.trim());
    throw new ShotForgeError("bad_ticks", (what || "a time") + " is not a whole tick count: " + JSON.stringify(value));
  }

  /** The sequence's rate as an exact fraction {num, den} of frames per second. */
  function rateOf(timebase) {
    var tb = ticks(timebase, "the sequence timebase");
    if (tb <= 0n) throw new ShotForgeError("bad_timebase", "the sequence timebase is " + tb + " ticks per frame");
    var g = gcd(TICKS_PER_SECOND, tb);
    return { num: TICKS_PER_SECOND / g, den: tb / g };
  }

  function gcd(a, b) {
    a = a < 0n ? -a : a;
    b = b < 0n ? -b : b;
    while (b) { var t = a % b; a = b; b = t; }
    return a;
  }

  /** OTIO's float rate for an exact {num, den} rate (24000/1001 -> 23.976023976023978). */
  function otioRate(rate) {
    return Number(rate.num) / Number(rate.den);
  }

  /** Exact frames for ticks at `tpf` ticks per frame, or throws naming `what`. */
  function framesExact(t, tpf, what) {
    t = ticks(t, what);
    tpf = ticks(tpf);
    if (t % tpf !== 0n) {
      throw new ShotForgeError("not_on_frame", (what || "a time") + " (" + t + " ticks) is not on a frame boundary of " +
        tpf + " ticks per frame");
    }
    return Number(t / tpf);
  }

  /** Frames for ticks, exact when on a frame boundary, else a fractional (still exact-as-float) value. */
  function framesValue(t, tpf) {
    t = ticks(t);
    tpf = ticks(tpf);
    if (t % tpf === 0n) return Number(t / tpf);
    return Number(t) / Number(tpf);
  }

  /** The frame holding tick position t (floor), for the playhead or a mark. */
  function frameAt(t, tpf) {
    t = ticks(t);
    tpf = ticks(tpf);
    var q = t / tpf;
    if (t % tpf !== 0n && t < 0n) q -= 1n;
    return Number(q);
  }

  /** Ticks as a decimal string for the host script (never a float). */
  function ticksString(frame, tpf) {
    return (BigInt(frame) * ticks(tpf)).toString();
  }

  /** Timecode of an absolute frame count (zero point included), for the editor's eyes only.
   *  Drop-frame (HH:MM:SS;FF) at 29.97/59.94 when `dropFrame`, as Premiere shows such sequences. */
  function timecode(frame, rate, dropFrame) {
    var fps = Math.round(otioRate(rate));
    var f = Math.abs(frame);
    var sep = ":";
    if (dropFrame && rate.den === 1001n && (fps === 30 || fps === 60)) {
      var drop = fps === 30 ? 2 : 4;
      var per10 = fps * 600 - drop * 9, perMin = fps * 60 - drop;
      var d = Math.floor(f / per10), m = f % per10;
      f += 9 * drop * d + (m > drop ? drop * Math.floor((m - drop) / perMin) : 0);
      sep = ";";
    }
    var ff = f % fps, s = Math.floor(f / fps), ss = s % 60, mi = Math.floor(s / 60), mm = mi % 60, hh = Math.floor(mi / 60);
    function p(n) { return (n < 10 ? "0" : "") + n; }
    return (frame < 0 ? "-" : "") + p(hh) + ":" + p(mm) + ":" + p(ss) + sep + p(ff);
  }

  /** Premiere's videoDisplayFormat values for drop-frame timecode (29.97 DF, 59.94 DF). */
  var DROP_FRAME_DISPLAY = [102, 106];

  function rationalTime(value, rate) {
    return { OTIO_SCHEMA: "RationalTime.1", rate: rate, value: value };
  }

  function timeRange(start, duration, rate) {
    return { OTIO_SCHEMA: "TimeRange.1", duration: rationalTime(duration, rate), start_time: rationalTime(start, rate) };
  }

  // ---------------------------------------------------------------- paths

  /** A file URL for a local path: /a/b c.mov -> file:///a/b%20c.mov, C:\x\y.mov -> file:///C:/x/y.mov,
   *  \\server\share\a.mov -> file://server/share/a.mov. */
  function fileUrl(path) {
    if (typeof path !== "string" || !path) throw new ShotForgeError("media_missing", "a clip has no media path");
    var p = path.replace(/\\/g, "/");
    var host = "";
    if (p.indexOf("//") === 0) {
      var rest = p.slice(2);
      var cut = rest.indexOf("/");
      host = cut < 0 ? rest : rest.slice(0, cut);
      p = cut < 0 ? "/" : rest.slice(cut);
    } else if (/^[A-Za-z]:\//.test(p)) {
      p = "/" + p;
    }
    var parts = p.split("/").map(function (seg, i) {
      if (i === 1 && /^[A-Za-z]:$/.test(seg)) return seg;
      return encodeURIComponent(seg);
    });
    return "file://" + host + parts.join("/");
  }

  /** The path a file URL names (inverse of fileUrl); plain paths pass through. */
  function pathFromUrl(url) {
    if (!/^file:/i.test(url)) return url;
    var m = /^file:\/\/([^/]*)(\/.*)$/i.exec(url);
    if (!m) return decodeURIComponent(url.replace(/^file:/i, ""));
    var host = m[1], p = decodeURIComponent(m[2]);
    if (host && host !== "localhost") return "//" + host + p;
    if (/^\/[A-Za-z]:\//.test(p)) return p.slice(1);
    return p;
  }

  function sameMediaPath(a, b) {
    var na = String(a || "").replace(/\\/g, "/"), nb = String(b || "").replace(/\\/g, "/");
    if (/^[A-Za-z]:\//.test(na) || /^[A-Za-z]:\//.test(nb)) return na.toLowerCase() === nb.toLowerCase();
    return na === nb;
  }

  // ---------------------------------------------------------------- the sequence

  /**
   * Normalise the facts the host returned into exact frames.
   * Result: {name, id, rate, tpf (BigInt), zeroFrame, width, height, playhead (frame),
   *          inFrame, outFrame (or null), tracks: [{index, name, clips: [clip…]}]} where each clip
   *          has {name, nodeId, start, end (record frames), sourceIn, sourceOut (frames, maybe
   *          fractional), mediaPath, speed, reversed, disabled, selected, trackIndex}.
   */
  function readSequence(facts) {
    if (!facts || !facts.sequence) throw new ShotForgeError("no_sequence", "open a sequence in the Timeline first");
    var s = facts.sequence;
    var tpf = ticks(s.timebase, "the sequence timebase");
    var rate = rateOf(tpf);
    var zero = ticks(s.zeroPoint || "0", "the sequence zero point");
    var seq = {
      name: s.name || "Sequence",
      id: s.id || "",
      rate: rate,
      fps: otioRate(rate),
      tpf: tpf,
      zeroTicks: zero,
      zeroFrame: framesValue(zero, tpf),
      width: Number(s.width) || 0,
      height: Number(s.height) || 0,
      playhead: frameAt(s.playhead || "0", tpf),
      dropFrame: DROP_FRAME_DISPLAY.indexOf(Number(s.displayFormat)) >= 0,
      inFrame: null,
      outFrame: null,
      tracks: [],
    };
    var inT = s.inPoint != null && s.inPoint !== "" ? ticks(s.inPoint, "the In point") : null;
    var outT = s.outPoint != null && s.outPoint !== "" ? ticks(s.outPoint, "the Out point") : null;
    // Premiere reports an unset mark as a large negative time (PProPanel: "-400000" seconds).
    if (inT !== null && outT !== null && inT >= 0n && outT > inT) {
      seq.inFrame = frameAt(inT, tpf);
      seq.outFrame = Number((outT + tpf - 1n) / tpf); // [in, out): out is exclusive; round up a partial frame
    }
    (s.videoTracks || []).forEach(function (t, index) {
      var clips = (t.clips || []).map(function (c) {
        var where = "clip '" + (c.name || "?") + "' on V" + (index + 1);
        var start = ticks(c.start, where + " start"), end = ticks(c.end, where + " end");
        var clip = {
          name: c.name || "",
          nodeId: c.nodeId || "",
          trackIndex: index,
          startTicks: start,
          endTicks: end,
          start: Number(start / tpf),
          end: Number(end / tpf),
          onFrames: start % tpf === 0n && end % tpf === 0n,
          inTicks: ticks(c.inPoint || "0", where + " in point"),
          outTicks: ticks(c.outPoint || "0", where + " out point"),
          mediaPath: c.mediaPath || "",
          speed: c.speed == null ? 1 : Number(c.speed),
          reversed: !!c.reversed,
          disabled: !!c.disabled,
          selected: !!c.selected,
        };
        if (!clip.onFrames) {
          // Premiere keeps sequence clips on frame boundaries; if one is not, round to the nearest frame.
          clip.start = Number((start + tpf / 2n) / tpf);
          clip.end = Number((end + tpf / 2n) / tpf);
        }
        clip.sourceIn = framesValue(clip.inTicks, tpf);
        clip.sourceOut = framesValue(clip.outTicks, tpf);
        return clip;
      });
      clips.sort(function (a, b) { return a.start - b.start; });
      seq.tracks.push({ index: index, name: t.name || "V" + (index + 1), clips: clips });
    });
    return seq;
  }

  function trackLabel(index) { return "V" + (index + 1); }

  function clipAt(track, frame) {
    for (var i = 0; i < track.clips.length; i++) {
      var c = track.clips[i];
      if (c.start <= frame && frame < c.end) return c;
    }
    return null;
  }

  /** The gap on `track` holding `frame`, bounded by clips on both sides, or null. */
  function gapAt(track, frame) {
    var before = null, after = null;
    for (var i = 0; i < track.clips.length; i++) {
      var c = track.clips[i];
      if (c.start <= frame && frame < c.end) return null;
      if (c.end <= frame && (!before || c.end > before.end)) before = c;
      if (c.start > frame && (!after || c.start < after.start)) after = c;
    }
    if (!before || !after) return null;
    return { start: before.end, end: after.start, before: before, after: after };
  }

  function checkTrack(seq, index) {
    if (!(index >= 0 && index < seq.tracks.length)) {
      throw new ShotForgeError("no_such_track", "video track " + trackLabel(index) + " does not exist (the sequence has " +
        seq.tracks.length + " video tracks)");
    }
    return seq.tracks[index];
  }

  /**
   * Find what the operation works on, as an editor would expect:
   *  extend/outpaint: the selected video clip (on the chosen track, if one is chosen), else the
   *    clip under the playhead on the chosen track (or the topmost one under the playhead);
   *  fill_gap: the gap under the playhead on the chosen track (or the lowest track with one);
   *  generate: the sequence In/Out range on the chosen track (V1 when "auto").
   * `trackChoice` is a 0-based index or "auto". Returns {track, frame, clip?, gap?, range?}.
   */
  function findTarget(seq, operation, trackChoice) {
    var auto = trackChoice === "auto" || trackChoice == null || trackChoice === "";
    var chosen = auto ? null : Number(trackChoice);
    if (!auto) checkTrack(seq, chosen);
    var ph = seq.playhead;
    if (operation === "extend" || operation === "outpaint") {
      var selected = [];
      seq.tracks.forEach(function (t) {
        t.clips.forEach(function (c) { if (c.selected && (auto || c.trackIndex === chosen)) selected.push(c); });
      });
      var clip = null;
      if (selected.length === 1) clip = selected[0];
      else if (selected.length > 1) {
        // Several selected: the one under the playhead, else refuse rather than guess.
        var under = selected.filter(function (c) { return c.start <= ph && ph < c.end; });
        if (under.length === 1) clip = under[0];
        else throw new ShotForgeError("ambiguous_selection", selected.length + " video clips are selected" +
          (auto ? "" : " on " + trackLabel(chosen)) + "; select one clip (or choose its track)");
      } else if (!auto) {
        clip = clipAt(seq.tracks[chosen], ph);
        if (!clip) throw new ShotForgeError("no_clip", "no clip is selected and none is under the playhead (" +
          timecode(ph + seq.zeroFrame, seq.rate, seq.dropFrame) + ") on " + trackLabel(chosen));
      } else {
        // The topmost enabled clip with media under the playhead (a title or matte over the
        // footage is skipped); failing that, the topmost clip, which is then refused below.
        var fallback = null;
        for (var i = seq.tracks.length - 1; i >= 0 && !clip; i--) {
          var c = clipAt(seq.tracks[i], ph);
          if (c && !c.disabled && c.mediaPath) clip = c;
          else if (c && !fallback) fallback = c;
        }
        clip = clip || fallback;
        if (!clip) throw new ShotForgeError("no_clip", "select a clip, or park the playhead on one (nothing at " +
          timecode(ph + seq.zeroFrame, seq.rate, seq.dropFrame) + ")");
      }
      if (!clip.mediaPath) throw new ShotForgeError("media_missing", "clip '" + clip.name + "' on " +
        trackLabel(clip.trackIndex) + " has no media file (offline, a generator, or a nested sequence)");
      var frame = clip.start <= ph && ph < clip.end ? ph : clip.start;
      return { track: clip.trackIndex, frame: frame, clip: clip };
    }
    if (operation === "fill_gap") {
      var tracks = auto ? seq.tracks : [seq.tracks[chosen]];
      for (var j = 0; j < tracks.length; j++) {
        var g = gapAt(tracks[j], ph);
        if (g) {
          if (g.end <= g.start) continue;
          return { track: tracks[j].index, frame: ph, gap: g };
        }
      }
      throw new ShotForgeError("no_gap", "the playhead (" + timecode(ph + seq.zeroFrame, seq.rate, seq.dropFrame) + ") is not in a gap between two clips" +
        (auto ? " on any video track" : " on " + trackLabel(chosen)));
    }
    if (operation === "generate") {
      if (seq.inFrame === null) throw new ShotForgeError("no_range", "mark an In and an Out point on the sequence for the new clip");
      return { track: auto ? 0 : chosen, frame: seq.inFrame, range: [seq.inFrame, seq.outFrame] };
    }
    throw new ShotForgeError("bad_operation", "unknown operation " + JSON.stringify(operation));
  }

  // ---------------------------------------------------------------- the request

  function clipJson(clip, seq, fps, mediaExtent) {
    var duration = clip.end - clip.start;
    var meta = {
      premiere: {
        node_id: clip.nodeId,
        start_ticks: clip.startTicks.toString(),
        end_ticks: clip.endTicks.toString(),
        in_ticks: clip.inTicks.toString(),
        out_ticks: clip.outTicks.toString(),
        media_path: clip.mediaPath,
        speed: clip.speed,
        reversed: clip.reversed,
      },
    };
    var effects = [];
    if (clip.speed !== 1 || clip.reversed) {
      effects.push({ OTIO_SCHEMA: "LinearTimeWarp.1", name: "Speed", effect_name: "LinearTimeWarp", metadata: {},
        time_scalar: (clip.reversed ? -1 : 1) * Math.abs(clip.speed) });
    }
    var ref;
    if (clip.mediaPath) {
      ref = {
        OTIO_SCHEMA: "ExternalReference.1",
        name: basename(clip.mediaPath),
        // Premiere's TrackItem in/out are measured from the media's first frame (not its timecode),
        // so the available range starts at 0; its length is a lower bound (the furthest frame used).
        available_range: timeRange(0, mediaExtent[clip.mediaPath] || Math.ceil(clip.sourceOut), fps),
        available_image_bounds: null,
        metadata: { shotforge: { source_origin: "media_start", duration_is_lower_bound: true } },
        target_url: fileUrl(clip.mediaPath),
      };
    } else {
      ref = { OTIO_SCHEMA: "MissingReference.1", name: "", available_range: null, available_image_bounds: null, metadata: {} };
    }
    return {
      OTIO_SCHEMA: "Clip.2",
      name: clip.name,
      source_range: timeRange(clip.sourceIn, duration, fps),
      effects: effects,
      markers: [],
      enabled: !clip.disabled,
      metadata: meta,
      media_references: { DEFAULT_MEDIA: ref },
      active_media_reference_key: "DEFAULT_MEDIA",
    };
  }

  function gapJson(frames, fps) {
    return { OTIO_SCHEMA: "Gap.1", name: "", source_range: timeRange(0, frames, fps), effects: [], markers: [],
      enabled: true, metadata: {} };
  }

  function basename(p) {
    var s = String(p).replace(/\\/g, "/");
    return s.slice(s.lastIndexOf("/") + 1);
  }

  /**
   * The request timeline for `options` = {operation, track ("auto"|index), side, frames,
   * canvas:[w,h], prompt, negative_prompt, seed, useReferenceFrame, engine, placement, extra}.
   * Returns {otio (object), target (from findTarget), seq}.
   */
  function buildRequest(facts, options) {
    var seq = facts && facts.tracks && facts.tpf ? facts : readSequence(facts);
    var op = options.operation;
    if (OPERATIONS.indexOf(op) < 0) throw new ShotForgeError("bad_operation", "unknown operation " + JSON.stringify(op));
    var target = findTarget(seq, op, options.track);
    var fps = otioRate(seq.rate);

    var sf = { version: 1, operation: op, track: target.track };
    if (op === "generate") sf.range = target.range.slice();
    else sf.frame = target.frame;
    if (op === "extend") {
      sf.side = options.side === "head" ? "head" : "tail";
      var n = Number(options.frames);
      if (!Number.isInteger(n) || n < 1) throw new ShotForgeError("bad_frames", "the extension length must be a whole number of frames, at least 1");
      sf.frames = n;
    }
    if (op === "outpaint" || (op === "generate" && options.canvas)) {
      var cv = options.canvas;
      if (!cv || cv.length !== 2 || !(cv[0] > 0) || !(cv[1] > 0)) throw new ShotForgeError("bad_canvas", "choose an output canvas (width x height)");
      sf.canvas = [Number(cv[0]), Number(cv[1])];
    }
    sf.prompt = options.prompt || "";
    sf.negative_prompt = options.negative_prompt || "";
    sf.seed = options.seed == null || options.seed === "" ? 0 : Number(options.seed);
    if (!Number.isInteger(sf.seed) || sf.seed < 0) throw new ShotForgeError("bad_seed", "the seed must be a whole number, 0 or more");
    if (options.useReferenceFrame) sf.reference_frame = seq.playhead;
    sf.engine = options.engine || "auto";
    sf.placement = options.placement || DEFAULT_PLACEMENT[op];
    if (options.extra) Object.keys(options.extra).forEach(function (k) { if (!(k in sf)) sf[k] = options.extra[k]; });

    // The furthest source frame used per media file: a lower bound for its length.
    var extent = {};
    seq.tracks.forEach(function (t) {
      t.clips.forEach(function (c) {
        if (c.mediaPath) extent[c.mediaPath] = Math.max(extent[c.mediaPath] || 0, Math.ceil(c.sourceOut), Math.ceil(c.sourceIn + (c.end - c.start)));
      });
    });

    var tracks = seq.tracks.map(function (t) {
      var children = [];
      var cursor = 0;
      t.clips.forEach(function (c) {
        if (c.end <= c.start) return; // zero-length items hold no frame
        if (c.start < cursor) {
          throw new ShotForgeError("overlap", "clips overlap on " + trackLabel(t.index) + " at " + timecode(c.start + seq.zeroFrame, seq.rate, seq.dropFrame));
        }
        if (c.start > cursor) children.push(gapJson(c.start - cursor, fps));
        children.push(clipJson(c, seq, fps, extent));
        cursor = c.end;
      });
      return { OTIO_SCHEMA: "Track.1", name: t.name, source_range: null, effects: [], markers: [], enabled: true,
        metadata: { premiere: { index: t.index } }, kind: "Video", children: children };
    });

    var otio = {
      OTIO_SCHEMA: "Timeline.1",
      name: seq.name,
      global_start_time: rationalTime(seq.zeroFrame, fps),
      metadata: {
        shotforge: sf,
        premiere: {
          sequence_id: seq.id,
          timebase: seq.tpf.toString(),
          zero_point: seq.zeroTicks.toString(),
          rate: seq.rate.num + "/" + seq.rate.den,
          width: seq.width,
          height: seq.height,
        },
      },
      tracks: { OTIO_SCHEMA: "Stack.1", name: "tracks", source_range: null, effects: [], markers: [], enabled: true,
        metadata: {}, children: tracks },
    };
    return { otio: otio, target: target, seq: seq };
  }

  // ---------------------------------------------------------------- placements

  /**
   * Turn the server's placements into host steps, checking everything before anything is
   * touched. A placement on track == number of video tracks ("a new track above") goes on the
   * lowest existing track above every clip in its range that is empty over that range; Premiere's
   * documented DOM cannot add a track, so when there is none the plan fails and says so.
   * Returns [{media, track, recordFrame, frames, recordTicks, sourceInTicks, sourceOutTicks,
   *           requestedTrack, label}].
   */
  function planPlacements(seq, placements, opts) {
    opts = opts || {};
    if (!Array.isArray(placements) || placements.length === 0) {
      throw new ShotForgeError("no_placements", "the server finished but returned nothing to place");
    }
    var taken = {}; // track index -> [[start, end)] ranges claimed by earlier placements of this job
    var steps = placements.map(function (p, i) {
      var where = "placement " + (i + 1);
      ["track", "record_frame", "source_in", "frames"].forEach(function (k) {
        if (!Number.isInteger(p[k])) throw new ShotForgeError("bad_placement", where + ": " + k + " is not a whole number (" + JSON.stringify(p[k]) + ")");
      });
      if (!p.media || typeof p.media !== "string") throw new ShotForgeError("bad_placement", where + " names no media file");
      if (p.frames < 1) throw new ShotForgeError("bad_placement", where + " places " + p.frames + " frames");
      if (p.record_frame < 0) throw new ShotForgeError("bad_placement", where + " starts before the sequence (record frame " + p.record_frame + ")");
      if (p.source_in < 0) throw new ShotForgeError("bad_placement", where + " starts before its media (source frame " + p.source_in + ")");
      var start = p.record_frame, end = p.record_frame + p.frames;
      var track = p.track;
      // "A new track above" is len(video tracks) of the request; the editor may have added tracks since.
      var above = opts.requestTracks != null ? opts.requestTracks : seq.tracks.length;
      if (track < 0 || (track >= seq.tracks.length && track !== above)) {
        throw new ShotForgeError("bad_placement", where + " is for video track " + (track + 1) + " but the sequence has " + seq.tracks.length);
      }
      if (track === above) {
        var top = -1;
        seq.tracks.forEach(function (t) {
          if (t.clips.some(function (c) { return c.start < end && start < c.end; })) top = t.index;
        });
        track = -1;
        for (var k = top + 1; k < seq.tracks.length; k++) {
          if (!overlapsTaken(taken, k, start, end)) { track = k; break; }
        }
        if (track < 0) {
          throw new ShotForgeError("no_free_track", "the result goes on a new video track above V" + (top + 1) +
            ", and Premiere's scripting cannot add tracks: add an empty video track (Sequence > Add Tracks) and press Place again");
        }
      }
      claim(taken, track, start, end);
      // Media frames are at the media's rate: the server renders at the sequence rate; original
      // media (extend handles) may say its own rate in `rate` ([num, den] or a number).
      var mtpf = mediaTicksPerFrame(p.rate, seq);
      return {
        media: p.media,
        requestedTrack: p.track,
        track: track,
        recordFrame: start,
        frames: p.frames,
        recordTicks: ticksString(start, seq.tpf),
        recordEndTicks: ticksString(end, seq.tpf),
        sourceIn: p.source_in,
        sourceInTicks: (BigInt(p.source_in) * mtpf).toString(),
        sourceOutTicks: (BigInt(p.source_in + p.frames) * mtpf).toString(),
        label: opts.label || "ShotForge",
      };
    });
    return steps;
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
    if ((TICKS_PER_SECOND * den) % num !== 0n) throw new ShotForgeError("bad_rate", "media rate " + num + "/" + den + " is not a whole number of ticks per frame");
    return (TICKS_PER_SECOND * den) / num;
  }

  function overlapsTaken(taken, track, start, end) {
    return (taken[track] || []).some(function (r) { return r[0] < end && start < r[1]; });
  }

  function claim(taken, track, start, end) {
    (taken[track] = taken[track] || []).push([start, end]);
  }

  /** A stable snapshot of the video tracks (to prove nothing changed after a failed job). */
  function snapshot(facts) {
    var s = facts.sequence;
    return JSON.stringify((s.videoTracks || []).map(function (t) {
      return (t.clips || []).map(function (c) { return [c.name, c.start, c.end, c.inPoint, c.outPoint, c.mediaPath]; });
    }));
  }

  return {
    TICKS_PER_SECOND: TICKS_PER_SECOND,
    OPERATIONS: OPERATIONS,
    DEFAULT_PLACEMENT: DEFAULT_PLACEMENT,
    ShotForgeError: ShotForgeError,
    ticks: ticks,
    rateOf: rateOf,
    otioRate: otioRate,
    framesExact: framesExact,
    framesValue: framesValue,
    frameAt: frameAt,
    ticksString: ticksString,
    timecode: timecode,
    fileUrl: fileUrl,
    pathFromUrl: pathFromUrl,
    sameMediaPath: sameMediaPath,
    readSequence: readSequence,
    clipAt: clipAt,
    gapAt: gapAt,
    findTarget: findTarget,
    buildRequest: buildRequest,
    planPlacements: planPlacements,
    mediaTicksPerFrame: mediaTicksPerFrame,
    snapshot: snapshot,
  };
});
