/*
 * ShotForge for Premiere Pro: the pure editorial core of the panel.
 *
 * No DOM, no HTTP, no ExtendScript: this file turns the sequence facts gathered by the host
 * script (jsx/host.jsx, all times as integer tick STRINGS) into exact frames, finds the shot,
 * gap or range an operation works on, and builds the request: an OpenTimelineIO timeline (OTIO
 * JSON, schemas Timeline.1 / Stack.1 / Track.1 / Clip.2 / Gap.1 / ExternalReference.1) with
 * metadata.shotforge (DESIGN.md). Placement plans are in sf_plan.js.
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
  var OPERATIONS = ["extend", "fill_gap", "outpaint", "generate", "inpaint"];
  var PLACEMENTS = ["auto", "above", "overwrite"];

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
          nested: !!c.nested,
          // Some builds report a reversed clip's speed as negative: the sign goes to `reversed`.
          speed: c.speed == null ? 1 : Math.abs(Number(c.speed)),
          reversed: !!c.reversed || Number(c.speed) < 0,
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
        // The span of media the clip plays: its first (lowest) media frame, and duration x speed
        // frames. A reversed clip plays that span from its last frame backwards; whichever of
        // inPoint/outPoint Premiere reports as the lower one, the span starts at the lower.
        clip.mediaFirst = Math.min(clip.sourceIn, clip.sourceOut);
        clip.mediaSpan = (clip.end - clip.start) * clip.speed;
        return clip;
      });
      clips.sort(function (a, b) { return a.start - b.start; });
      seq.tracks.push({ index: index, name: t.name || "V" + (index + 1), clips: clips,
        transitions: spansOf(t.transitions, tpf, "a transition on V" + (index + 1)) });
    });
    seq.audioTracks = (s.audioTracks || []).map(function (t, index) {
      var what = "a clip on A" + (index + 1);
      // Which file an audio item plays, and from where: the server finds a shot's own sound track by it.
      var clips = spansOf(t.clips, tpf, what, function (x) { return { mediaPath: x.mediaPath || "", inTicks: ticks(x.inPoint || "0", what + " in point") }; });
      return { index: index, name: t.name || "A" + (index + 1), clips: clips,
        transitions: spansOf(t.transitions, tpf, "a transition on A" + (index + 1)) };
    });
    seq.markers = (s.markers || []).map(function (m) {
      return { guid: m.guid || "", name: m.name || "", comments: m.comments || "", startTicks: ticks(m.start, "a marker"),
        endTicks: ticks(m.end, "a marker") };
    });
    return seq;
  }

  /** {name, startTicks, endTicks, start, end (frames, outward to whole frames)} of transitions or audio
   *  items, with the fields `more(item)` adds. */
  function spansOf(list, tpf, what, more) {
    return (list || []).map(function (x) {
      var st = ticks(x.start, what + " start"), et = ticks(x.end, what + " end");
      return Object.assign({ name: x.name || "", nodeId: x.nodeId || "", startTicks: st, endTicks: et, start: frameAt(st, tpf),
        end: Number((et + tpf - 1n) / tpf) }, more ? more(x) : {});
    }).sort(function (a, b) { return a.start - b.start; });
  }

  function trackLabel(index) { return "V" + (index + 1); }

  /** "clip ‘B’ on V1": a clip as a message names it. */
  function clipWords(clip) { return "clip ‘" + clip.name + "’ on " + trackLabel(clip.trackIndex); }

  function audioTrackLabel(index) { return "A" + (index + 1); }

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

  /** Why a clip is not a shot to work on (null when it is one): titles, generators, adjustment
   *  layers and offline clips have no media file, a nested sequence is not one file, and a
   *  disabled clip does not play. (Transitions are not clips: the host lists them apart.) */
  function notAShot(clip) {
    if (clip.disabled) return "is disabled (a disabled clip does not play, so it is not used)";
    if (clip.nested) return "is a nested sequence, not a media file";
    if (!clip.mediaPath) return "has no media file (a title, generator, adjustment layer or offline clip)";
    return null;
  }

  function refuseClip(clip) {
    throw new ShotForgeError("not_a_shot", "clip '" + clip.name + "' on " + trackLabel(clip.trackIndex) + " " + notAShot(clip));
  }

  /**
   * Find what the operation works on, as an editor would expect:
   *  extend/outpaint/inpaint: the selected shot (on the chosen track, if one is chosen), else the shot
   *    under the playhead on the chosen track (or, on Auto, the topmost enabled clip with a media
   *    file there: a title, generator, adjustment layer or nested sequence above it is skipped);
   *  fill_gap: the gap under the playhead between two clips on the chosen track (or the lowest
   *    track with one); transitions at either side do not change the gap;
   *  generate: the sequence In/Out range on the chosen track (V1 when "auto").
   * `trackChoice` is a 0-based index or "auto". Returns {track, frame, clip?, gap?, range?}.
   */
  function findTarget(seq, operation, trackChoice) {
    var auto = trackChoice === "auto" || trackChoice == null || trackChoice === "";
    var chosen = auto ? null : Number(trackChoice);
    if (!auto) checkTrack(seq, chosen);
    var ph = seq.playhead;
    var at = timecode(ph + seq.zeroFrame, seq.rate, seq.dropFrame);
    if (operation === "extend" || operation === "outpaint" || operation === "inpaint") {
      var selected = [];
      seq.tracks.forEach(function (t) {
        t.clips.forEach(function (c) { if (c.selected && (auto || c.trackIndex === chosen)) selected.push(c); });
      });
      var shots = selected.filter(function (c) { return !notAShot(c); });
      var clip = null;
      if (selected.length && !shots.length) refuseClip(selected[selected.length - 1]);
      if (shots.length === 1) clip = shots[0];
      else if (shots.length > 1) {
        // Several selected: the one under the playhead, else refuse rather than guess.
        var under = shots.filter(function (c) { return c.start <= ph && ph < c.end; });
        if (under.length === 1) clip = under[0];
        else throw new ShotForgeError("ambiguous_selection", shots.length + " video clips are selected" +
          (auto ? "" : " on " + trackLabel(chosen)) + "; select one clip (or choose its track)");
      } else if (!auto) {
        clip = clipAt(seq.tracks[chosen], ph);
        if (!clip) throw new ShotForgeError("no_clip", "no clip is selected and none is under the playhead (" + at + ") on " + trackLabel(chosen));
        if (notAShot(clip)) refuseClip(clip);
      } else {
        var skipped = null;
        for (var i = seq.tracks.length - 1; i >= 0 && !clip; i--) {
          var c = clipAt(seq.tracks[i], ph);
          if (c && !notAShot(c)) clip = c;
          else if (c && !skipped) skipped = c;
        }
        if (!clip && skipped) refuseClip(skipped);
        if (!clip) throw new ShotForgeError("no_clip", "select a clip, or park the playhead on one (nothing at " + at + ")");
      }
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
      throw new ShotForgeError("no_gap", "the playhead (" + at + ") is not in a gap between two clips" +
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
        available_range: timeRange(0, mediaExtent[clip.mediaPath], fps),
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
      // The server's convention (otio_tools/media.py): duration = record duration, start = the
      // lowest media frame of the span; LinearTimeWarp says speed and direction.
      source_range: timeRange(clip.mediaFirst, duration, fps),
      effects: effects,
      markers: [],
      enabled: !clip.disabled,
      metadata: meta,
      media_references: { DEFAULT_MEDIA: ref },
      active_media_reference_key: "DEFAULT_MEDIA",
    };
  }

  /**
   * Inpaint's area on `sf`: `region` [x, y, w, h] in the clip's source pixels (and `region_end`,
   * the region at the clip's last frame, for a moving object), or `mask`, the path of a matte
   * (white = replace). Whether the region lies inside the picture is checked by the server: the
   * documented DOM does not tell a clip's source frame size.
   */
  function inpaintArea(sf, options, clip) {
    var region = options.region, mask = options.mask == null ? "" : String(options.mask).trim();
    var who = clipWords(clip);
    if (region && mask) throw new ShotForgeError("bad_region", "inpaint takes a region or a matte file, not both (" + who + ")");
    if (mask) {
      if (options.region_end) throw new ShotForgeError("bad_region", "a matte moves by itself: an end region goes only with a region (" + who + ")");
      sf.mask = mask;
      return;
    }
    if (!region) throw new ShotForgeError("bad_region", "inpaint needs a region (x, y, width, height in the source pixels of " + who + ") or a matte file");
    sf.region = checkRegion(region, "the region", who);
    if (options.region_end) sf.region_end = checkRegion(options.region_end, "the end region", who);
  }

  function checkRegion(r, what, who) {
    var ok = Array.isArray(r) && r.length === 4 && r.every(function (v) { return typeof v === "number" && Number.isInteger(v); });
    if (!ok) {
      var given = Array.isArray(r) ? r.map(function (v) { return typeof v === "number" && isFinite(v) ? String(v) : "(empty)"; }).join(", ") : String(r);
      throw new ShotForgeError("bad_region", what + " of " + who + " must be four whole numbers of its source pixels: " +
        "x, y (from the top-left corner), width and height; got " + given);
    }
    if (r[0] < 0 || r[1] < 0) throw new ShotForgeError("bad_region", what + " of " + who + " starts outside the picture (x " + r[0] + ", y " + r[1] + "): x and y are 0 or more");
    if (r[2] < 1 || r[3] < 1) throw new ShotForgeError("bad_region", what + " of " + who + " is " + r[2] + " × " + r[3] + " pixels: width and height are 1 or more");
    return r.slice();
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
   * canvas:[w,h], region:[x,y,w,h], region_end, mask (inpaint), prompt, negative_prompt, seed, useReferenceFrame, engine, placement, extra}.
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
    if (op === "inpaint") inpaintArea(sf, options, target.clip);
    sf.prompt = options.prompt || "";
    sf.negative_prompt = options.negative_prompt || "";
    sf.seed = options.seed == null || options.seed === "" ? 0 : Number(options.seed);
    if (!Number.isInteger(sf.seed) || sf.seed < 0) throw new ShotForgeError("bad_seed", "the seed must be a whole number, 0 or more");
    if (options.useReferenceFrame) sf.reference_frame = seq.playhead;
    sf.engine = options.engine || "auto";
    sf.placement = options.placement || "auto";
    if (PLACEMENTS.indexOf(sf.placement) < 0) throw new ShotForgeError("bad_placement", "placement must be auto, above or overwrite");
    if (options.extra) Object.keys(options.extra).forEach(function (k) { if (!(k in sf)) sf[k] = options.extra[k]; });

    // The furthest source frame used per media file: a lower bound for its length.
    var extent = {};
    seq.tracks.forEach(function (t) {
      t.clips.forEach(function (c) {
        if (c.mediaPath) {
          extent[c.mediaPath] = Math.max(extent[c.mediaPath] || 0, Math.ceil(Math.max(c.sourceIn, c.sourceOut)),
            Math.ceil(c.mediaFirst + c.mediaSpan));
        }
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
        metadata: { premiere: { index: t.index, transitions: t.transitions.map(function (x) { return [x.name, x.start, x.end]; }) } },
        kind: "Video", children: children };
    });

    // Audio tracks say where sound is and whose (the server puts room tone on the shot's own sound
    // track when it is free under the new frames, else on another free one); the server reads none of it.
    seq.audioTracks.forEach(function (t) {
      var children = [];
      var cursor = 0;
      t.clips.forEach(function (c) {
        // Audio items sit at sample positions: each is widened to whole frames, so neighbours may touch.
        var start = Math.max(c.start, cursor);
        if (c.end <= start) return;
        if (start > cursor) children.push(gapJson(start - cursor, fps));
        var ref = c.mediaPath ? { OTIO_SCHEMA: "ExternalReference.1", name: basename(c.mediaPath), available_range: null,
          available_image_bounds: null, metadata: {}, target_url: fileUrl(c.mediaPath) } :
          { OTIO_SCHEMA: "MissingReference.1", name: "", available_range: null, available_image_bounds: null, metadata: {} };
        children.push({ OTIO_SCHEMA: "Clip.2", name: c.name, source_range: timeRange(frameAt(c.inTicks, seq.tpf) + start - c.start, c.end - start, fps),
          effects: [], markers: [], enabled: true,
          metadata: { premiere: { node_id: c.nodeId, start_ticks: c.startTicks.toString(), end_ticks: c.endTicks.toString(),
            in_ticks: c.inTicks.toString(), media_path: c.mediaPath } },
          media_references: { DEFAULT_MEDIA: ref }, active_media_reference_key: "DEFAULT_MEDIA" });
        cursor = c.end;
      });
      tracks.push({ OTIO_SCHEMA: "Track.1", name: t.name, source_range: null, effects: [], markers: [], enabled: true,
        metadata: { premiere: { index: t.index, transitions: t.transitions.map(function (x) { return [x.name, x.start, x.end]; }) } },
        kind: "Audio", children: children });
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

  return {
    TICKS_PER_SECOND: TICKS_PER_SECOND,
    OPERATIONS: OPERATIONS,
    PLACEMENTS: PLACEMENTS,
    ShotForgeError: ShotForgeError,
    ticks: ticks,
    rateOf: rateOf,
    otioRate: otioRate,
    framesValue: framesValue,
    frameAt: frameAt,
    ticksString: ticksString,
    timecode: timecode,
    fileUrl: fileUrl,
    readSequence: readSequence,
    clipAt: clipAt,
    gapAt: gapAt,
    findTarget: findTarget,
    buildRequest: buildRequest,
    notAShot: notAShot,
    trackLabel: trackLabel,
    clipWords: clipWords,
    audioTrackLabel: audioTrackLabel,
    basename: basename,
  };
});
