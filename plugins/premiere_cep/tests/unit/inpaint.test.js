/*
 * Inpaint from the panel's core and the headless workflow: the selected clip as for the other
 * operations, the region as numbers (optionally moving) or a matte file, the request as DESIGN.md
 * "Inpaint" has it, and the result placed, taken off and re-taken like any other take. The server
 * is the stand-in of ./standin.js (the browser suite drives the page against a stand-in server).
 */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");

const core = require("../../js/sf_core");
const plan = require("../../js/sf_plan");
const { makeSequence } = require("../helpers");
const { workflowSuite, place } = require("./standin");

const { dir: DIR, setup } = workflowSuite("sf-inpaint-");

const read = (spec) => core.readSequence({ sequence: makeSequence(spec) });
const TB = 10160640000n;
const T = (f) => String(BigInt(f) * TB);
const SHOT = { playhead: 50, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 40, end: 84 }] },
  { clips: [{ name: "Title", start: 40, end: 60, media: "" }] }] };
const INPAINT = { operation: "inpaint", track: "auto", region: [100, 40, 320, 180], engine: "classical" };

/** The server's answer for an inpaint: the clip's placed range, on a new track above (its own track is taken). */
function clipRange(seqSpec) {
  return (sf, videoTracks) => {
    const clip = seqSpec.tracks[sf.track].clips.find((c) => c.start <= sf.frame && sf.frame < c.end);
    return [{ track: videoTracks, record_frame: clip.start, source_in: 0, frames: clip.end - clip.start }];
  };
}

test("inpaint request: the shot under the playhead below a title, frame inside it, region in source pixels, no canvas", () => {
  const { otio, target } = core.buildRequest(read(SHOT), Object.assign({ prompt: "" }, INPAINT));
  const sf = otio.metadata.shotforge;
  assert.equal(target.clip.name, "B");
  assert.deepEqual([sf.operation, sf.track, sf.frame], ["inpaint", 0, 50]);
  assert.deepEqual(sf.region, [100, 40, 320, 180]);
  assert.ok(!("region_end" in sf) && !("mask" in sf) && !("canvas" in sf) && !("side" in sf));
  assert.equal(sf.prompt, "", "an empty prompt removes what is in the region");
  assert.equal(sf.placement, "auto");
});

test("inpaint with a moving region: region_end goes along; a selected clip wins over the playhead", () => {
  const spec = JSON.parse(JSON.stringify(SHOT));
  spec.tracks[0].clips[0].selected = true;
  const { otio } = core.buildRequest(read(spec), Object.assign({}, INPAINT, { region_end: [600, 40, 320, 180], prompt: "an empty street" }));
  const sf = otio.metadata.shotforge;
  assert.deepEqual([sf.track, sf.frame], [0, 0], "the selected A, not B under the playhead: its first frame");
  assert.deepEqual(sf.region_end, [600, 40, 320, 180]);
  assert.equal(sf.prompt, "an empty street");
});

test("inpaint with a matte file: mask is its path, no region", () => {
  const { otio } = core.buildRequest(read(SHOT), { operation: "inpaint", track: 0, mask: "  D:\\mattes\\boom matte.mov " });
  assert.equal(otio.metadata.shotforge.mask, "D:\\mattes\\boom matte.mov");
  assert.ok(!("region" in otio.metadata.shotforge));
});

test("inpaint refuses a region that is not four whole pixel numbers inside the picture's corner, both region and matte, or neither", () => {
  const s = read(SHOT);
  const refuse = (opts, re) => assert.throws(() => core.buildRequest(s, Object.assign({ operation: "inpaint", track: "auto" }, opts)),
    (e) => e.code === "bad_region" && re.test(e.message), JSON.stringify(opts));
  refuse({}, /needs a region .* of clip ‘B’ on V1\) or a matte file/);
  refuse({ region: [10, 10, NaN, 20] }, /four whole numbers .* got 10, 10, \(empty\), 20/);
  refuse({ region: [10.5, 10, 20, 20] }, /four whole numbers/);
  refuse({ region: [10, 10, 20] }, /four whole numbers/);
  refuse({ region: [-1, 10, 20, 20] }, /starts outside the picture \(x -1, y 10\)/);
  refuse({ region: [0, 0, 0, 20] }, /is 0 × 20 pixels/);
  refuse({ region: [0, 0, 10, 10], region_end: [0, 0, 10, -4] }, /the end region of clip ‘B’ on V1 is 10 × -4 pixels/);
  refuse({ region: [0, 0, 10, 10], mask: "/m.png" }, /a region or a matte file, not both/);
  refuse({ mask: "/m.png", region_end: [0, 0, 10, 10] }, /a matte moves by itself: an end region goes only with a region \(clip ‘B’ on V1\)/);
  refuse({ mask: "   " }, /needs a region/);
});

test("inpaint targets like outpaint: a disabled or title clip chosen is refused, nothing under the playhead says so", () => {
  let s = read({ playhead: 10, tracks: [{ clips: [{ name: "D", start: 0, end: 36, disabled: true }] }] });
  assert.throws(() => core.buildRequest(s, INPAINT), (e) => e.code === "not_a_shot" && /'D' on V1 is disabled/.test(e.message));
  s = read({ playhead: 10, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }, { clips: [{ name: "Title", start: 0, end: 36, media: "" }] }] });
  assert.throws(() => core.buildRequest(s, Object.assign({}, INPAINT, { track: 1 })), /'Title' on V2 has no media file/);
  s = read({ playhead: 90, tracks: [{ clips: [{ name: "A", start: 0, end: 36 }] }] });
  assert.throws(() => core.buildRequest(s, INPAINT), (e) => e.code === "no_clip");
});

test("inpaint takes are named and coloured of their own", () => {
  assert.equal(plan.takeName("inpaint", 3), "ShotForge inpaint take 3");
  assert.equal(plan.COLOR_LABEL.inpaint, 9);
  assert.equal(new Set(Object.values(plan.COLOR_LABEL)).size, Object.keys(plan.COLOR_LABEL).length, "one colour per operation");
});

test("inpaint placed: the clip's whole range on the free V3 above (V2 has a title over part of it), B untouched; remove last restores exactly", async () => {
  const spec = Object.assign({}, SHOT, { tracks: SHOT.tracks.concat([{}]) });
  const { wf, dom, jobs } = setup(spec, clipRange(spec));
  const before = dom.fullSnapshot();
  const { take } = await place(wf, INPAINT);
  assert.deepEqual(jobs.sent[0].metadata.shotforge.region, [100, 40, 320, 180]);
  assert.equal(take.name, "ShotForge inpaint take 1");
  assert.deepEqual(take.items.map((it) => [it.track, it.start, it.end]), [[2, T(40), T(84)]]);
  assert.equal(dom.projectItems.find((p) => p.name === take.name).label, 9);
  assert.deepEqual(dom.destroyed, []);
  assert.deepEqual(dom.snapshot()[0].map((c) => c.name), ["A", "B"]);
  const [m] = dom.sequence.markers;
  assert.deepEqual([m.name, m.start, m.end], [take.name, T(40), T(84)]);
  await wf.removeLast();
  assert.equal(dom.fullSnapshot(), before);
});

test("inpaint with no free track above the clip: refused with how to make room, nothing placed, the render kept", async () => {
  const { wf, dom } = setup(SHOT, clipRange(SHOT));
  const before = dom.fullSnapshot();
  const r = await wf.render(INPAINT);
  await assert.rejects(wf.prepare(r.job, r.record), (e) => e.code === "no_free_track" && /above V1/.test(e.message) &&
    e.renderPaths[0] === r.record.result.media[0]);
  assert.equal(dom.fullSnapshot(), before);
});

test("inpaint with a matte that does not exist: refused before anything is sent", async () => {
  const { wf, dom, jobs } = setup(SHOT, clipRange(SHOT));
  const gone = path.join(DIR, "no such matte.png");
  await assert.rejects(wf.render({ operation: "inpaint", track: "auto", mask: gone }),
    (e) => e.code === "mask_missing" && e.message.includes("the matte file " + gone + " for clip ‘B’ on V1 does not exist"));
  assert.equal(jobs.sent.length, 0);
  assert.equal(dom.mutations.length, 0);
  const matte = path.join(DIR, "matte.png");
  fs.writeFileSync(matte, "a matte");
  await wf.render({ operation: "inpaint", track: "auto", mask: matte });
  assert.equal(jobs.sent[0].metadata.shotforge.mask, matte);
});

test("inpaint new take: the region and the slot kept, the next seed, swapped in as take 2", async () => {
  const spec = Object.assign({}, SHOT, { tracks: SHOT.tracks.concat([{}]) });
  const { wf, dom, jobs } = setup(spec, clipRange(spec));
  const { take: first } = await place(wf, Object.assign({}, INPAINT, { region_end: [300, 40, 320, 180], seed: 4 }));
  const out = await wf.newTake({ prompt: "a lamp post" });
  const sf = jobs.sent[1].metadata.shotforge;
  assert.deepEqual([sf.operation, sf.region, sf.region_end, sf.seed, sf.prompt], ["inpaint", [100, 40, 320, 180], [300, 40, 320, 180], 5, "a lamp post"]);
  assert.equal(out.take.name, "ShotForge inpaint take 2");
  assert.deepEqual(dom.snapshot()[2].map((c) => [c.name, c.start, c.end]), [["ShotForge inpaint take 2", first.items[0].start, first.items[0].end]]);
  assert.equal(dom.sequence.markers.length, 1);
});
