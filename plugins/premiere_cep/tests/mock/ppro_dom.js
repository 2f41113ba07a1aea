/*
 * A mock of Premiere Pro's ExtendScript DOM, limited to the members documented in
 * tests/fixtures/premiere_api.tsv (a copy of shared/reference/premiere_api.tsv). Every DOM
 * object is wrapped in a Proxy: reading or writing a member the reference does not list
 * throws and is recorded in `violations`, so a test fails even when the host script catches
 * the error.
 *
 * Behaviour follows the reference notes where they describe traps:
 *  - Time keeps integer ticks as a string; `.seconds` is a float view.
 *  - Sequence.overwriteClip takes seconds (psg) and truncates to the frame, like Premiere
 *    (a float one tick short lands a frame early); a missing track index is a silent no-op.
 *  - importFiles returns true even for a missing file, and the item only appears after a few
 *    more host calls (findItemsMatchingMediaPath returns 0 until then).
 *  - findItemsMatchingMediaPath returns an Array, or 0 when nothing matches.
 *  - createSubClip wants tick strings; its flags are (takeVideo, takeAudio) as in Adobe's d.ts
 *    (`subclipFlags: "audioVideo"` swaps them, as the guide's signature line has them).
 *  - An overwrite destroys what it covers, without asking: clips are cut or removed, transitions
 *    (Track.transitions) removed, on the audio track it is given exactly as on the video track.
 *    The DOM has no way to add a track (video or audio).
 *  - Sequence.overwriteClip(item, seconds, v, a) puts a subclip's picture on V(v) and, when it took
 *    audio and the media has sound, its sound on A(a) over the same record range and source in,
 *    one audio item (assumed, not measured: a stereo render on one track; linked A/V items are
 *    separate TrackItems that remove(0, 1) takes off one at a time; `spillAudio` makes the sound of
 *    an overwrite cover the next audio track too, as a layout of more channels than one track holds
 *    might (unmeasured); `removeLinked` makes remove take
 *    the linked other half along, the other guess). An audio index past the last track places no
 *    sound and reports success (premiere-pro-mcp#130: nothing placed with a nonexistent audio
 *    track); whether the picture still lands is unmeasured: it does here, and with
 *    `pastLastAudio: "nothing"` nothing lands at all, the other guess.
 *  - TrackItem.remove(inRipple, inAlignToVideo) takes the item out (rippling later ones left when
 *    inRipple is set); ProjectItem.setColorLabel keeps only the 16 label indices 0..15;
 *    sequence markers via createMarker(seconds) land on the frame, Marker start/end are Time.
 *  - `landOff = {nth, frames}` makes the nth placement from now land `frames` frames late (a
 *    read-back must see it); `soundOff = {nth, frames}` the same for the sound alone of the nth
 *    placement that brings sound (its picture lands right); `subclipLonger = {frames}` makes the
 *    next subclip end that many frames past what was asked (its overwrite would cover more than the
 *    free range); `throwOn = "Type.member"` makes the next use of that member throw.
 */
"use strict";

const fs = require("fs");
const path = require("path");

const TPS = 254016000000n;
const TSV = path.join(__dirname, "..", "fixtures", "premiere_api.tsv");

// --------------------------------------------------------------------------- the reference

/** {object: Set(members)} from the TSV's object/member columns ("a / b" lists both). */
function documentedMembers(tsvPath = TSV) {
  const out = {};
  for (const line of fs.readFileSync(tsvPath, "utf8").split("\n")) {
    if (!line.trim() || line.startsWith("#") || line.startsWith("object\t")) continue;
    const [object, member] = line.split("\t");
    if (!member || member === "(constructor)") continue;
    (out[object] = out[object] || new Set());
    for (const m of member.split("/")) {
      const name = m.trim();
      if (/^[A-Za-z_$][\w$]*$/.test(name)) out[object].add(name);
    }
  }
  return out;
}

const DOCUMENTED = documentedMembers();
// Members the reference names in its notes/signature columns rather than the member column;
// each is quoted from the TSV row that documents it.
const FROM_NOTES = {
  // Project.rootItem: "Walk .children (ProjectItemCollection, .numItems)"; Sequence.videoTracks: "(.numTracks)"
  TrackCollection: new Set(["numTracks"]),
  TrackItemCollection: new Set(["numItems"]),
  ProjectItemCollection: new Set(["numItems"]),
  // Sequence.getSettings: "Fields: videoFrameRate (Time = one frame duration), videoFrameWidth/Height, ..."
  SequenceSettings: new Set(["videoFrameRate", "videoFrameWidth", "videoFrameHeight", "videoPixelAspectRatio",
    "videoFieldType", "videoDisplayFormat", "audioSampleRate", "audioChannelCount"]),
  // Sequence.getInPoint: "isWorkAreaEnabled() -> Boolean" (work area row)
  Sequence: new Set(["isWorkAreaEnabled"]),
  // ProjectItem.type: "ProjectItemType.BIN constant also used (ppj)"
  ProjectItemType: new Set(["BIN", "CLIP", "ROOT", "FILE"]),
  // Array results (getSelection "uses .length", findItemsMatchingMediaPath "Array")
  Array: new Set(["length"]),
};
// Members premiere_cep_notes.md section 11 names ("Documented, useful: ProjectItem.setColorLabel(index)
// / getColorLabel(), marker APIs on the sequence (sequence.markers.createMarker(seconds), name,
// comments, end)"; "An overwrite in Premiere destroys what it covers (clips and transitions)"), each
// with the members the scripting guide documents beside it and the host needs, no more:
// psg sequence/track.md "Track.transitions: TrackItemCollection, read-only";
// psg collection/markercollection.md createMarker(seconds), deleteMarker(marker) -> Boolean,
// getFirstMarker()/getNextMarker(m) -> Marker or undefined; psg general/marker.md name, comments
// (String, read/write), start, end (Time, read/write), guid (String, read-only).
const FROM_GUIDE = {
  Track: new Set(["transitions"]),
  Sequence: new Set(["markers"]),
  ProjectItem: new Set(["setColorLabel", "getColorLabel"]),
  MarkerCollection: new Set(["createMarker", "deleteMarker", "getFirstMarker", "getNextMarker"]),
  Marker: new Set(["name", "comments", "start", "end", "guid"]),
};
for (const [obj, set] of Object.entries(FROM_NOTES).concat(Object.entries(FROM_GUIDE))) {
  DOCUMENTED[obj] = new Set([...(DOCUMENTED[obj] || []), ...set]);
}

function isDocumented(type, member) {
  return !!(DOCUMENTED[type] && DOCUMENTED[type].has(member));
}

// --------------------------------------------------------------------------- guarded objects

class UndocumentedMember extends Error {}

function guard(dom, type, target, { indexed = false } = {}) {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      if (typeof prop === "symbol" || prop === "then" || prop === "toJSON" || prop === "inspect") return Reflect.get(obj, prop, receiver);
      if (indexed && /^\d+$/.test(prop)) return obj[prop];
      if (prop === "valueOf" || prop === "toString") return Reflect.get(obj, prop, receiver);
      dom.accessLog.push(`${type}.${prop}`);
      if (dom.throwOn === `${type}.${prop}`) {
        // A DOM call failing half-way (Premiere throws on some builds/states): the host must clean up.
        dom.throwOn = null;
        throw new Error(`${type}.${prop} failed (injected)`);
      }
      if (!isDocumented(type, prop)) {
        const msg = `undocumented DOM member ${type}.${prop}`;
        dom.violations.push(msg);
        throw new UndocumentedMember(msg);
      }
      const v = Reflect.get(obj, prop, receiver);
      return typeof v === "function" ? v.bind(obj) : v;
    },
    set(obj, prop, value) {
      if (!isDocumented(type, prop)) {
        const msg = `undocumented DOM member ${type}.${prop} (write)`;
        dom.violations.push(msg);
        throw new UndocumentedMember(msg);
      }
      dom.writeLog.push(`${type}.${prop}`);
      obj[prop] = value;
      return true;
    },
    has(obj, prop) {
      return isDocumented(type, prop) && prop in obj;
    },
  });
}

// --------------------------------------------------------------------------- the DOM

function big(t) { return BigInt(String(t)); }
function byStart(a, b) { return big(a.start) < big(b.start) ? -1 : big(a.start) > big(b.start) ? 1 : 0; }

class PremiereMock {
  /**
   * `sequence`: facts-shaped fixture {name, id, timebase, zeroPoint, width, height, inPoint,
   * outPoint, playhead, videoTracks: [{name, clips: [{name, start, end, inPoint, outPoint,
   * mediaPath, speed, reversed, disabled, selected, nested}], transitions: [{name, start, end}]}],
   * audioTracks: [{name, clips: [...]}], markers: [{name, comments, start, end}]} with tick strings.
   * `importDelay`: how many later host calls pass before an imported file shows up.
   * `subclipFlags`: "videoAudio" (d.ts order, default) or "audioVideo" (the guide's signature line).
   * `mediaHasAudio`: whether imported renders carry an audio stream (room tone does).
   */
  constructor(sequence, { importDelay = 2, version = "25.1.0", subclipFlags = "videoAudio", mediaHasAudio = true,
    pastLastAudio = "picture", itemStartTicks = "0", absentTypePoints = "media", subclipPoints = "own" } = {}) {
    this.pastLastAudio = pastLastAudio;
    this.subclipPoints = subclipPoints;
    this.absentTypePoints = absentTypePoints;
    this.itemStartTicks = itemStartTicks;
    this.violations = [];
    this.accessLog = [];
    this.writeLog = [];
    this.calls = 0;
    this.importDelay = importDelay;
    this.subclipFlags = subclipFlags;
    this.mediaHasAudio = mediaHasAudio;
    this.pending = [];
    this.mutations = [];
    this.destroyed = []; // what overwrites covered: {track, kind: "clip"|"transition", name, start, end}
    this.landOff = null;
    this.soundOff = null;
    this.subclipLonger = null;
    this.spillAudio = false;
    this.persistent = {}; // app.setExtensionPersistent calls: extension id -> the last value
    this.throwOn = null;
    this.removeRefused = false; // TrackItem.remove / deleteMarker refusing (non-zero / false) and leaving the item
    this.removeLinked = false; // TrackItem.remove taking the picture or sound linked to it along (unmeasured either way)
    this.importsOffline = false; // a file Premiere cannot read is imported as an offline item
    this.version = version;
    this.nextNode = 1000;
    this.projectItems = []; // every item in the project (bins included), raw
    this.root = this.rawItem({ name: "Root", type: 3, children: [] });
    this.sequence = sequence ? this.buildSequence(sequence) : null;
    this.rawOf = new WeakMap(); // guarded view -> raw model (mock-internal, no DOM access)
    this.globals = this.buildGlobals();
  }

  // ----- raw model helpers
  rawItem(fields) {
    const item = Object.assign({ nodeId: String(this.nextNode++), mediaPath: "", children: null, parent: null,
      isSeq: false, offline: false, subIn: null, subOut: null, label: 0, hasAudio: false, video: true, audio: false }, fields);
    this.projectItems.push(item);
    return item;
  }

  itemFor(mediaPath, nested) {
    let it = this.projectItems.find((p) => p.type === 1 && p.mediaPath === mediaPath && !p.subIn && p.isSeq === !!nested);
    if (!it) {
      it = this.rawItem({ name: path.basename(mediaPath || "Nested Sequence"), type: 1, mediaPath, isSeq: !!nested });
      it.parent = this.root;
      this.root.children.push(it);
    }
    return it;
  }

  buildSequence(s) {
    const tb = big(s.timebase);
    const seq = {
      name: s.name, id: s.id || "seq-" + s.name, timebase: String(s.timebase), zeroPoint: String(s.zeroPoint || "0"),
      width: s.width || 1920, height: s.height || 1080,
      inPoint: s.inPoint == null ? String(-400000n * TPS) : String(s.inPoint),
      outPoint: s.outPoint == null ? String(-400000n * TPS) : String(s.outPoint),
      playhead: String(s.playhead || "0"),
      displayFormat: s.displayFormat == null ? 104 : s.displayFormat,
      tracks: (s.videoTracks || []).map((t) => ({
        name: t.name,
        clips: (t.clips || []).map((c) => this.rawClip(c)),
        transitions: (t.transitions || []).map((x) => ({ name: x.name || "Cross Dissolve", nodeId: String(this.nextNode++),
          start: String(x.start), end: String(x.end) })),
      })),
      // Audio tracks as video ones: clips, and transitions (audio crossfades; psg track.md documents
      // Track.transitions for every track), which an overwrite destroys alike (notes section 11).
      audio: (s.audioTracks || []).map((t) => ({ name: t.name, clips: (t.clips || []).map((c) => this.rawClip(c)),
        transitions: (t.transitions || []).map((x) => ({ name: x.name || "Constant Power", nodeId: String(this.nextNode++),
          start: String(x.start), end: String(x.end) })) })),
      markers: [],
    };
    // A file whose sound is on an audio track has sound: subclips of it take audio when asked to.
    for (const t of seq.audio) for (const c of t.clips) if (c.item) c.item.hasAudio = true;
    this.sequence = seq;
    for (const m of s.markers || []) {
      this.newMarker(big(m.start) / tb * tb, m);
    }
    return seq;
  }

  rawClip(c) {
    return {
      name: c.name, nodeId: c.nodeId || String(this.nextNode++), start: String(c.start), end: String(c.end),
      inPoint: String(c.inPoint || "0"), outPoint: String(c.outPoint || String(big(c.inPoint || 0) + big(c.end) - big(c.start))),
      item: c.noItem ? null : this.itemFor(c.mediaPath || "", c.nested),
      speed: c.speed == null ? 1 : c.speed, reversed: !!c.reversed, disabled: !!c.disabled, selected: !!c.selected,
    };
  }

  newMarker(startTicks, fields = {}) {
    const m = { guid: "marker-" + this.nextNode++, name: fields.name || "", comments: fields.comments || "",
      start: String(startTicks), end: String(fields.end != null ? fields.end : startTicks) };
    this.sequence.markers.push(m);
    return m;
  }

  /** Everything an editor would see change: video clips, transitions, audio clips, markers, labels. */
  snapshot() {
    const s = this.sequence;
    const clip = (c) => ({ name: c.name, start: c.start, end: c.end, inPoint: c.inPoint, outPoint: c.outPoint,
      mediaPath: c.item ? c.item.mediaPath : "" });
    return s.tracks.map((t) => t.clips.slice().sort(byStart).map(clip));
  }

  fullSnapshot() {
    const s = this.sequence;
    const clip = (c) => [c.name, c.start, c.end, c.inPoint, c.outPoint, c.item ? c.item.mediaPath : "", c.disabled];
    return JSON.stringify({
      video: s.tracks.map((t) => ({ clips: t.clips.slice().sort(byStart).map(clip),
        transitions: t.transitions.slice().sort(byStart).map((x) => [x.name, x.start, x.end]) })),
      audio: s.audio.map((t) => ({ clips: t.clips.slice().sort(byStart).map(clip),
        transitions: t.transitions.slice().sort(byStart).map((x) => [x.name, x.start, x.end]) })),
      markers: s.markers.slice().sort(byStart).map((m) => [m.name, m.comments, m.start, m.end]),
    });
  }

  tick() {
    this.calls += 1;
    const due = this.pending.filter((p) => p.due <= this.calls);
    this.pending = this.pending.filter((p) => p.due > this.calls);
    for (const p of due) {
      const it = this.rawItem({ name: path.basename(p.path), type: 1, mediaPath: p.path, hasAudio: this.mediaHasAudio,
        offline: this.importsOffline });
      it.parent = p.bin;
      p.bin.children.push(it);
    }
  }

  // ----- guarded views
  time(ticksStr) {
    const dom = this;
    let t = String(ticksStr);
    const raw = {
      get ticks() { return t; },
      set ticks(v) { t = String(BigInt(String(v))); },
      get seconds() { return Number(big(t)) / Number(TPS); },
      set seconds(v) { t = String(BigInt(Math.round(Number(v) * Number(TPS)))); },
      getFormatted() { return ""; },
      setSecondsAsFraction(n, d) { t = String((BigInt(n) * TPS) / BigInt(d)); return true; },
    };
    return guard(dom, "Time", raw);
  }

  /** Ticks from a Time view assigned to a read/write Time member. */
  ticksFrom(value, what) {
    if (value === null || typeof value !== "object") throw new Error("Illegal Parameter type (" + what + " wants a Time)");
    return String(value.ticks);
  }

  projectItemView(it) {
    if (!it) return it;
    const dom = this;
    const raw = {
      get name() { return it.name; },
      get nodeId() { return it.nodeId; },
      get type() { return it.type; },
      get treePath() { return (it.parent ? "\\" + it.parent.name : "") + "\\" + it.name; },
      get children() { return it.children ? dom.collection("ProjectItemCollection", it.children.map((c) => dom.projectItemView(c)), "numItems") : null; },
      getMediaPath() { return it.mediaPath; },
      isSequence() { return it.isSeq; },
      isOffline() { return it.offline; },
      // Premiere has 16 label colours; anything else leaves the label as it was.
      setColorLabel(index) { if (Number.isInteger(index) && index >= 0 && index <= 15) it.label = index; },
      getColorLabel() { return it.label; },
      createBin(name) {
        const b = dom.rawItem({ name, type: 2, children: [] });
        b.parent = it;
        it.children.push(b);
        return dom.projectItemView(b);
      },
      findItemsMatchingMediaPath(p, ignoreSubclips) {
        const hits = dom.projectItems.filter((x) => x.type === 1 && x.mediaPath === p && !(ignoreSubclips && x.subIn !== null));
        return hits.length ? guard(dom, "Array", hits.map((h) => dom.projectItemView(h)), { indexed: true }) : 0;
      },
      getInPoint(mediaType) { return dom.time(dom.itemPoint(it, mediaType, "in")); },
      getOutPoint(mediaType) { return dom.time(dom.itemPoint(it, mediaType, "out")); },
      createSubClip(name, startTicks, endTicks, hard, flagA, flagB) {
        for (const t of [startTicks, endTicks]) {
          if (typeof t !== "string" || !/^\d+$/.test(t)) throw new Error("Illegal Parameter type (createSubClip wants tick strings)");
        }
        if (big(endTicks) <= big(startTicks)) return 0;
        const [takeVideo, takeAudio] = dom.subclipFlags === "audioVideo" ? [flagB, flagA] : [flagA, flagB];
        if (dom.subclipLonger) { // the next subclip ends `frames` frames past what was asked
          endTicks = String(big(endTicks) + BigInt(dom.subclipLonger.frames) * big(dom.sequence.timebase));
          dom.subclipLonger = null;
        }
        const sub = dom.rawItem({ name, type: 1, mediaPath: it.mediaPath, subIn: startTicks, subOut: endTicks,
          video: !!takeVideo, audio: !!takeAudio && it.hasAudio, hasAudio: it.hasAudio, hard: !!hard });
        sub.parent = it.parent;
        (it.parent || dom.root).children.push(sub);
        return dom.projectItemView(sub);
      },
    };
    const view = guard(dom, "ProjectItem", raw);
    dom.rawOf.set(view, it);
    return view;
  }

  /** ProjectItem in/out ticks for `mediaType` (1 video, 2 audio), counted from `itemStartTicks` (0:
   *  the media's first frame; a start timecode's ticks: the other base Premiere might count from).
   *  A subclip answers its own span for a type it carries, else the whole media's (10 s here). The
   *  other guesses, all unmeasured: `absentTypePoints: "subclip"` (its own span for a type it lacks
   *  too), "unset" (Premiere's not-set -400000 for it), `subclipPoints: "media"` (the whole media's
   *  for every subclip). */
  itemPoint(it, mediaType, which) {
    const carries = mediaType === 2 ? it.audio : it.video;
    if (it.subIn !== null && !carries && this.absentTypePoints === "unset") return "-400000";
    const own = it.subIn !== null && (carries || this.absentTypePoints === "subclip") && this.subclipPoints !== "media";
    const ticks = which === "in" ? (own ? big(it.subIn) : 0n) : (own ? big(it.subOut) : 10n * TPS);
    return String(big(this.itemStartTicks) + ticks);
  }

  collection(type, items, countName) {
    const arr = {};
    items.forEach((v, i) => { arr[i] = v; });
    arr[countName] = items.length;
    return guard(this, type, arr, { indexed: true });
  }

  trackItemView(c, list, kind) {
    const dom = this;
    const raw = {
      get name() { return c.name; },
      get nodeId() { return c.nodeId; },
      get start() { return dom.time(c.start); },
      get end() { return dom.time(c.end); },
      get inPoint() { return dom.time(c.inPoint || "0"); },
      get outPoint() { return dom.time(c.outPoint || "0"); },
      get duration() { return dom.time(String(big(c.end) - big(c.start))); },
      get mediaType() { return kind === "audio" ? "Audio" : "Video"; },
      get type() { return kind === "audio" ? 2 : 1; },
      get projectItem() { return c.item ? dom.projectItemView(c.item) : null; },
      get disabled() { return !!c.disabled; },
      getSpeed() { return c.speed == null ? 1 : c.speed; },
      isSpeedReversed() { return c.reversed ? 1 : 0; },
      isSelected() { return !!c.selected; },
      remove(inRipple, inAlignToVideo) {
        const i = list.clips.indexOf(c);
        if (i < 0) return 0;
        if (dom.removeRefused) return 1; // the guide: "Returns 0 if successful"
        list.clips.splice(i, 1);
        if (dom.removeLinked && c.link) dom.removeLinkedTo(c);
        if (inRipple) {
          // Ripple delete: everything after it on the track moves left by its duration.
          const d = big(c.end) - big(c.start);
          for (const o of list.clips.concat(list.transitions || [])) {
            if (big(o.start) >= big(c.end)) { o.start = String(big(o.start) - d); o.end = String(big(o.end) - d); }
          }
        }
        dom.mutations.push({ removed: c.name, start: c.start, end: c.end, ripple: !!inRipple });
        return 0;
      },
    };
    return guard(dom, "TrackItem", raw);
  }

  trackView(t, index, kind) {
    const dom = this;
    const raw = {
      get name() { return t.name; },
      get id() { return index; },
      get mediaType() { return kind === "audio" ? "Audio" : "Video"; },
      get clips() {
        return dom.collection("TrackItemCollection", t.clips.slice().sort(byStart).map((c) => dom.trackItemView(c, t, kind)), "numItems");
      },
      get transitions() {
        return dom.collection("TrackItemCollection", (t.transitions || []).slice().sort(byStart).map((x) => dom.transitionView(x)), "numItems");
      },
      // Docs: ticks string; Adobe's sample passes seconds (a Number). Both are taken, the seconds truncated.
      overwriteClip(projectItem, time) {
        let at;
        if (typeof time === "string" && /^\d+$/.test(time)) at = big(time);
        else if (typeof time === "number") at = BigInt(Math.floor(time * Number(TPS)));
        else throw new Error("Illegal Parameter type (Track.overwriteClip time)");
        if (kind === "audio") throw new Error("the mock places on video tracks only");
        dom.placeItem(projectItem, at, index, 0);
        return true;
      },
    };
    return guard(dom, "Track", raw);
  }

  transitionView(x) {
    const dom = this;
    return guard(dom, "TrackItem", {
      get name() { return x.name; },
      get nodeId() { return x.nodeId; },
      get start() { return dom.time(x.start); },
      get end() { return dom.time(x.end); },
      get duration() { return dom.time(String(big(x.end) - big(x.start))); },
      get mediaType() { return "Video"; },
    });
  }

  markerView(m) {
    const dom = this;
    const view = guard(dom, "Marker", {
      get guid() { return m.guid; },
      get name() { return m.name; },
      set name(v) { m.name = String(v); },
      get comments() { return m.comments; },
      set comments(v) { m.comments = String(v); },
      get start() { return dom.time(m.start); },
      set start(v) { m.start = dom.ticksFrom(v, "Marker.start"); },
      get end() { return dom.time(m.end); },
      set end(v) { m.end = dom.ticksFrom(v, "Marker.end"); },
    });
    dom.rawOf.set(view, m);
    return view;
  }

  markersView() {
    const dom = this, s = this.sequence;
    const sorted = () => s.markers.slice().sort(byStart);
    return guard(dom, "MarkerCollection", {
      createMarker(seconds) {
        if (typeof seconds !== "number") throw new Error("Illegal Parameter type (createMarker takes seconds)");
        const tb = big(s.timebase);
        return dom.markerView(dom.newMarker(BigInt(Math.floor(seconds * Number(TPS))) / tb * tb));
      },
      deleteMarker(marker) {
        if (dom.removeRefused) return false;
        const m = dom.rawOf.get(marker);
        const i = s.markers.indexOf(m);
        if (i < 0) return false;
        s.markers.splice(i, 1);
        return true;
      },
      getFirstMarker() { const l = sorted(); return l.length ? dom.markerView(l[0]) : undefined; },
      getNextMarker(current) {
        const l = sorted(), i = l.indexOf(dom.rawOf.get(current));
        return i >= 0 && i + 1 < l.length ? dom.markerView(l[i + 1]) : undefined;
      },
    });
  }

  sequenceView() {
    const dom = this, s = this.sequence;
    const raw = {
      get name() { return s.name; },
      get sequenceID() { return s.id; },
      get timebase() { return s.timebase; },
      get zeroPoint() { return s.zeroPoint; },
      get end() {
        let e = 0n;
        s.tracks.forEach((t) => t.clips.forEach((c) => { if (big(c.end) > e) e = big(c.end); }));
        return String(e);
      },
      get frameSizeHorizontal() { return s.width; },
      get frameSizeVertical() { return s.height; },
      get videoTracks() { return dom.collection("TrackCollection", s.tracks.map((t, i) => dom.trackView(t, i, "video")), "numTracks"); },
      get audioTracks() { return dom.collection("TrackCollection", s.audio.map((t, i) => dom.trackView(t, i, "audio")), "numTracks"); },
      get markers() { return dom.markersView(); },
      getInPoint() { return String(Number(big(s.inPoint)) / Number(TPS)); },
      getOutPoint() { return String(Number(big(s.outPoint)) / Number(TPS)); },
      getInPointAsTime() { return dom.time(s.inPoint); },
      getOutPointAsTime() { return dom.time(s.outPoint); },
      getPlayerPosition() { return dom.time(s.playhead); },
      setPlayerPosition(t) { s.playhead = String(BigInt(t)); return true; },
      getSettings() {
        return guard(dom, "SequenceSettings", { videoFrameRate: dom.time(s.timebase), videoFrameWidth: s.width,
          videoFrameHeight: s.height, videoDisplayFormat: s.displayFormat });
      },
      overwriteClip(projectItem, time, vIndex, aIndex) {
        if (typeof time !== "number") throw new Error("Illegal Parameter type (overwriteClip takes seconds)");
        if (!(vIndex >= 0 && vIndex < s.tracks.length)) return true; // silent no-op (premiere-pro-mcp#130)
        if (!(aIndex >= 0 && aIndex < s.audio.length) && dom.pastLastAudio === "nothing") return true; // the same
        dom.placeItem(projectItem, BigInt(Math.floor(time * Number(TPS))), vIndex, aIndex);
        return true;
      },
    };
    return guard(dom, "Sequence", raw);
  }

  /** An overwrite at tick `at` (truncated to the frame, as Premiere does): video on vIndex, audio on aIndex. */
  placeItem(projectItem, at, vIndex, aIndex) {
    const s = this.sequence, tb = big(s.timebase);
    const it = this.rawOf.get(projectItem);
    if (!it) throw new Error("Illegal Parameter type (overwriteClip wants a ProjectItem)");
    let t = (at / tb) * tb;
    if (this.landOff && --this.landOff.nth === 0) { t += BigInt(this.landOff.frames) * tb; this.landOff = null; }
    const srcIn = it.subIn !== null ? big(it.subIn) : 0n;
    const srcOut = it.subOut !== null ? big(it.subOut) : srcIn + 10n * TPS;
    // The picture and sound of one overwrite are linked (one `link` object on both).
    const what = { name: it.name, inPoint: String(srcIn), outPoint: String(srcOut), item: it, link: it.video && it.audio ? {} : null };
    if (it.video) this.overwrite(s.tracks[vIndex], vIndex, t, t + srcOut - srcIn, what);
    if (!it.audio || !(aIndex >= 0 && aIndex < s.audio.length)) return;
    let ta = t;
    if (this.soundOff && --this.soundOff.nth === 0) { ta += BigInt(this.soundOff.frames) * tb; this.soundOff = null; }
    this.overwrite(s.audio[aIndex], "A" + aIndex, ta, ta + srcOut - srcIn, what);
    if (this.spillAudio && aIndex + 1 < s.audio.length) this.overwrite(s.audio[aIndex + 1], "A" + (aIndex + 1), ta, ta + srcOut - srcIn, what);
  }

  /** With `removeLinked`: the items linked to `c` (the other half of its overwrite) go with it. */
  removeLinkedTo(c) {
    for (const t of this.sequence.tracks.concat(this.sequence.audio)) {
      for (const o of t.clips.filter((x) => x.link === c.link)) {
        t.clips.splice(t.clips.indexOf(o), 1);
        this.mutations.push({ removed: o.name, start: o.start, end: o.end, ripple: false, linked: true });
      }
    }
  }

  /** Overwrite [start, end) on `track`: whatever it covers is cut or removed, transitions removed. */
  overwrite(track, label, start, end, what) {
    const out = [];
    for (const c of track.clips) {
      const cs = big(c.start), ce = big(c.end);
      if (ce <= start || cs >= end) { out.push(c); continue; }
      this.destroyed.push({ track: label, kind: "clip", name: c.name, start: c.start, end: c.end });
      if (cs < start) out.push(Object.assign({}, c, { end: String(start), outPoint: String(big(c.inPoint) + start - cs), nodeId: String(this.nextNode++) }));
      if (ce > end) out.push(Object.assign({}, c, { start: String(end), inPoint: String(big(c.inPoint) + end - cs), nodeId: String(this.nextNode++) }));
    }
    if (track.transitions) {
      track.transitions = track.transitions.filter((x) => {
        const hit = big(x.start) < end && start < big(x.end);
        if (hit) this.destroyed.push({ track: label, kind: "transition", name: x.name, start: x.start, end: x.end });
        return !hit;
      });
    }
    out.push({ name: what.name, nodeId: String(this.nextNode++), start: String(start), end: String(end),
      inPoint: what.inPoint, outPoint: what.outPoint, item: what.item, speed: 1, reversed: false, disabled: false, selected: false,
      link: what.link });
    track.clips = out;
    this.mutations.push({ track: label, start: String(start), end: String(end), name: what.name });
  }

  buildGlobals() {
    const dom = this;
    const project = {
      get activeSequence() { return dom.sequence ? dom.sequenceView() : 0; },
      get rootItem() { return dom.projectItemView(dom.root); },
      get sequences() { return dom.collection("SequenceCollection", [], "numSequences"); },
      importFiles(paths, suppressUI, bin, numbered) {
        const target = (bin && dom.rawOf.get(bin)) || dom.root;
        for (const p of paths) {
          // true even for a missing file; such a file never shows up.
          if (fs.existsSync(p)) dom.pending.push({ path: p, bin: target, due: dom.calls + dom.importDelay });
        }
        return true;
      },
      getInsertionBin() { return dom.projectItemView(dom.root); },
    };
    const app = {
      get project() { return guard(dom, "Project", project); },
      get version() { return dom.version; },
      setSDKEventMessage() { return true; },
      setExtensionPersistent(id, persistent) { dom.persistent[id] = persistent; return true; },
    };
    const appView = guard(dom, "app", app);
    function Time() { return dom.time("0"); }
    function File(p) {
      if (!(this instanceof File)) return new File(p);
      Object.defineProperty(this, "exists", { get: () => fs.existsSync(String(p)) });
      this.fsName = String(p);
    }
    return {
      app: appView,
      Time,
      File,
      ProjectItemType: guard(dom, "ProjectItemType", { CLIP: 1, BIN: 2, ROOT: 3, FILE: 4 }),
      $: { writeln() {} },
    };
  }
}

module.exports = { PremiereMock, documentedMembers, isDocumented, DOCUMENTED, UndocumentedMember, TPS };
