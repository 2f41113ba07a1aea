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

module.exports = { ROOT, SEQ_DIR, TPS, loadSequence, allSequences, withState, frames };
