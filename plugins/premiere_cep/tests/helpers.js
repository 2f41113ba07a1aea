"use strict";
const fs = require("fs");
const path = require("path");

const ROOT = path.join(__dirname, "..");
const SEQ_DIR = path.join(__dirname, "fixtures", "sequences");
const TPS = 254016000000n;

function loadSequence(name) {
  return JSON.parse(fs.readFileSync(path.join(SEQ_DIR, name + ".json"), "utf8"));
}

function allSequences() {
  return fs.readdirSync(SEQ_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
}

/** A deep copy with the playhead / marks / selection set (frames at the sequence rate). */
function withState(seq, { playhead, inFrame, outFrame, select } = {}) {
  const s = JSON.parse(JSON.stringify(seq));
  const tpf = BigInt(s.timebase);
  if (playhead != null) s.playhead = String(BigInt(playhead) * tpf);
  if (inFrame != null) s.inPoint = String(BigInt(inFrame) * tpf);
  if (outFrame != null) s.outPoint = String(BigInt(outFrame) * tpf);
  if (select) {
    const [t, c] = select;
    s.videoTracks[t].clips[c].selected = true;
  }
  return s;
}

function frames(ticks, tpf) {
  return Number(BigInt(ticks) / BigInt(tpf));
}

/**
 * A facts-shaped sequence written in frames, for editorial scenarios:
 * tracks: [{clips: [{name, start, end, in (source frame), media, speed, reversed, disabled, nested,
 * selected}], transitions: [{name, start, end}]}], audio: [[{name, start, end}]]; 25 fps, zero point
 * 01:00:00:00 unless told.
 */
function makeSequence({ timebase = "10160640000", zeroFrames = 90000, tracks, audio = [], playhead = 0, inFrame, outFrame, name = "Scene 1" }) {
  const tpf = BigInt(timebase);
  const t = (f) => String(BigInt(f) * tpf);
  const clip = (c) => {
    const speed = c.speed == null ? 1 : c.speed;
    const first = c.in == null ? 0 : c.in;
    const span = Math.round((c.end - c.start) * speed);
    return { name: c.name, start: t(c.start), end: t(c.end), inPoint: t(first), outPoint: t(first + span),
      mediaPath: c.media == null ? "/media/" + c.name + ".mov" : c.media, speed, reversed: !!c.reversed,
      disabled: !!c.disabled, selected: !!c.selected, nested: !!c.nested };
  };
  const seq = {
    name, id: "seq-" + name, timebase, zeroPoint: t(zeroFrames), width: 1920, height: 1080, playhead: t(playhead),
    videoTracks: tracks.map((tr, i) => ({ name: "Video " + (i + 1), clips: (tr.clips || []).map(clip),
      transitions: (tr.transitions || []).map((x) => ({ name: x.name || "Cross Dissolve", start: t(x.start), end: t(x.end) })) })),
    audioTracks: audio.map((clips, i) => ({ name: "Audio " + (i + 1), clips: clips.map(clip) })),
  };
  if (inFrame != null) { seq.inPoint = t(inFrame); seq.outPoint = t(outFrame); }
  return seq;
}

module.exports = { ROOT, SEQ_DIR, TPS, loadSequence, allSequences, withState, frames, makeSequence };
