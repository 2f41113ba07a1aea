/*
 * Room tone under new frames: a placement's `audio_track` puts the new media's sound on a free
 * audio track at the same record frames, read back, removed with its take, on the mock whose
 * overwrite destroys on audio tracks exactly as on video ones. Plans (sf_plan), the host
 * (host.jsx) and the headless workflow; the server is the stand-in of ./standin.js.
 */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("fs");
const path = require("path");

const core = require("../../js/sf_core");
const plan = require("../../js/sf_plan");
const { HostBridge } = require("../../js/sf_host");
const { HostRunner } = require("../mock/host_runner");
const { PremiereMock } = require("../mock/ppro_dom");
const { makeSequence } = require("../helpers");
const { workflowSuite, place } = require("./standin");

const { dir: DIR, runners: RUNNERS, setup } = workflowSuite("sf-sound-");

const TB = 10160640000n;
const T = (f) => String(BigInt(f) * TB);
const read = (spec) => core.readSequence({ sequence: makeSequence(spec) });
const V1 = { clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 60, end: 84 }] };
// A1: the clips' own sound; A2: music over the gap's second half.
const AUDIO = [[{ name: "A", start: 0, end: 36 }, { name: "B", start: 60, end: 84 }], [{ name: "Music", start: 48, end: 84 }]];
const FILL = { operation: "fill_gap", track: "auto", engine: "classical" };

/** The server's gap fill with room tone: the lowest request audio track free over the gap (as otio_tools.placement does). */
function gapWithTone(audioTrack) {
  return (sf, videoTracks, audioTracks) => [{ track: sf.track, record_frame: 36, source_in: 0, frames: 24,
    audio_track: audioTrack == null ? audioTracks : audioTrack }];
}

function audioOf(dom, a) {
  return dom.sequence.audio[a].clips.slice().sort((x, y) => (BigInt(x.start) < BigInt(y.start) ? -1 : 1))
    .map((c) => [c.name, Number(BigInt(c.start) / TB), Number(BigInt(c.end) / TB), c.inPoint]);
}

// ------------------------------------------------------------------ the request and the plan

test("the request lists the audio tracks (kind Audio, after the video ones) with their items in frames and media", () => {
  const seq = makeSequence({ playhead: 40, tracks: [V1, {}], audio: AUDIO });
  // An audio item off the frame grid (a sample position) is widened to whole frames; its neighbour is kept clear of it.
  seq.audioTracks[1].clips[0].start = String(48n * TB - 1000n);
  seq.audioTracks[0].transitions = [{ name: "Constant Power", start: T(34), end: T(38) }];
  const { otio } = core.buildRequest(core.readSequence({ sequence: seq }), FILL);
  const tracks = otio.tracks.children;
  assert.deepEqual(tracks.map((t) => t.kind), ["Video", "Video", "Audio", "Audio"]);
  const frames = (t) => t.children.map((c) => [c.OTIO_SCHEMA, c.source_range.duration.value]);
  assert.deepEqual(frames(tracks[2]), [["Clip.2", 36], ["Gap.1", 24], ["Clip.2", 24]]);
  assert.deepEqual(frames(tracks[3]), [["Gap.1", 47], ["Clip.2", 37]]);
  // Each audio item names the file it plays (the server finds the shot's own sound track by it).
  assert.deepEqual(tracks[2].children.filter((c) => c.OTIO_SCHEMA === "Clip.2").map((c) => c.media_references.DEFAULT_MEDIA.target_url),
    ["file:///media/A.mov", "file:///media/B.mov"]);
  assert.deepEqual(tracks[2].metadata.premiere.transitions, [["Constant Power", 34, 38]]);
  assert.equal(otio.metadata.shotforge.track, 0, "track still counts video tracks only");
});

test("plan: the server's audio track when it is free on the live sequence, else the lowest free one; a new audio track means an existing free one", () => {
  const s = read({ tracks: [V1, {}], audio: AUDIO.concat([[]]) });
  const steps = (audio_track, requestAudio) => plan.planPlacements(s, [{ media: "/g.mov", track: 0, record_frame: 36, source_in: 0, frames: 24,
    audio_track }], { requestAudioTracks: requestAudio });
  assert.equal(steps(0, 3)[0].audioTrack, 0);
  assert.equal(steps(1, 3)[0].audioTrack, 0, "A2 holds music over frames 48-59: the lowest free, A1");
  assert.equal(steps(2, 3)[0].audioTrack, 2);
  assert.equal(steps(2, 2)[0].audioTrack, 0, "a new audio track (the request had 2): the lowest free existing one");
  assert.equal(plan.planPlacements(s, [{ media: "/g.mov", track: 0, record_frame: 36, source_in: 0, frames: 24 }])[0].audioTrack, null);
  assert.throws(() => steps(4, 3), (e) => e.code === "bad_placement" && /audio track 5/.test(e.message));
  assert.throws(() => steps(-1, 3), (e) => e.code === "bad_placement" && /audio_track/.test(e.message));
  assert.throws(() => steps(0.5, 3), (e) => e.code === "bad_placement");
});

test("plan: an audio crossfade makes an audio range busy; none free: how to make room; sound never overwrites, even when the picture does", () => {
  const spec = { tracks: [V1, {}], audio: [[{ name: "A", start: 0, end: 40 }]] };
  const seq = makeSequence(spec);
  seq.audioTracks.push({ name: "Audio 2", clips: [], transitions: [{ name: "Constant Power", start: T(58), end: T(62) }] });
  const s = core.readSequence({ sequence: seq });
  const p = [{ media: "/g.mov", track: 0, record_frame: 36, source_in: 0, frames: 24, audio_track: 0 }];
  assert.throws(() => plan.planPlacements(s, p, { requestAudioTracks: 2 }), (e) => e.code === "no_free_audio_track" &&
    /no audio track is empty over frames 36-59.*add an empty audio track \(Sequence > Add Tracks\) and press Place again/.test(e.message));
  assert.throws(() => plan.planPlacements(s, p, { requestAudioTracks: 2, placement: "overwrite" }), (e) => e.code === "no_free_audio_track");
  assert.equal(plan.planPlacements(s, [Object.assign({}, p[0], { frames: 20 })], { requestAudioTracks: 2 })[0].audioTrack, 1,
    "frames 36-55 clear A2's crossfade at 58");
});

test("plan: a new take's sound goes on the audio track of the take it replaces, or nowhere; one result's sound stays on one track", () => {
  const s = read({ tracks: [V1, {}], audio: [[{ name: "A", start: 0, end: 36 }], [], []] });
  const p = { media: "/g.mov", track: 0, record_frame: 36, source_in: 0, frames: 24, audio_track: 0 };
  assert.equal(plan.planPlacements(s, [p], { slotTrack: 0, slotAudioTrack: 2 })[0].audioTrack, 2);
  const busy = read({ tracks: [V1, {}], audio: [[], [], [{ name: "X", start: 50, end: 51 }]] });
  assert.throws(() => plan.planPlacements(busy, [p], { slotTrack: 0, slotAudioTrack: 2 }), (e) => e.code === "slot_taken" && /A3/.test(e.message));
  // Two pieces with sound for A1: the second is not free there, so both go to A2 together.
  const two = read({ tracks: [V1, {}], audio: [[{ name: "A", start: 0, end: 36 }, { name: "X", start: 45, end: 50 }], []] });
  const steps = plan.planPlacements(two, [Object.assign({}, p, { frames: 6 }), Object.assign({}, p, { record_frame: 42, frames: 18 })], { requestAudioTracks: 2 });
  assert.deepEqual(steps.map((x) => x.audioTrack), [1, 1]);
});

test("the snapshot sees the audio items' source in and the audio crossfades", () => {
  const seq = makeSequence({ tracks: [V1], audio: AUDIO });
  const a = plan.snapshot({ sequence: JSON.parse(JSON.stringify(seq)) });
  seq.audioTracks[0].clips[0].inPoint = T(3);
  assert.notEqual(plan.snapshot({ sequence: seq }), a);
  seq.audioTracks[0].clips[0].inPoint = T(0);
  seq.audioTracks[0].transitions = [{ name: "Constant Power", start: T(30), end: T(40) }];
  assert.notEqual(plan.snapshot({ sequence: seq }), a);
});

// ------------------------------------------------------------------ the host

/** The host on the mock of `spec` (makeSequence's, or a sequence already made), a render imported
 *  into its project, and the sequence as the panel then reads it: {runner, bridge, dom, media, seq}. */
async function hostWithRender(spec, options = {}) {
  const runner = new HostRunner(spec.videoTracks ? spec : makeSequence(spec), Object.assign({ importDelay: 0 }, options));
  RUNNERS.push(runner);
  const bridge = new HostBridge((script, cb) => setImmediate(() => cb(runner.evalScript(script))), { importDelayMs: 1 });
  const media = path.join(fs.mkdtempSync(path.join(DIR, "r-")), "tone.mov");
  fs.writeFileSync(media, "picture and room tone");
  await bridge.importMedia(media);
  return { runner, bridge, dom: runner.dom, media, seq: core.readSequence(runner.call("facts")) };
}

const TAKE = { name: "ShotForge fill gap take 1", colorLabel: 4 };

test("host: picture and sound of one subclip land linked, the sound on the given audio track at the same record ticks and source in", async () => {
  const { bridge, dom, runner, media, seq } = await hostWithRender({ tracks: [V1], audio: AUDIO });
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 7, frames: 24, audio_track: 0 }]);
  const got = await bridge.place(seq, step, TAKE, []);
  assert.deepEqual([got.start, got.end, got.inPoint], [T(36), T(60), T(7)]);
  assert.deepEqual(got.audio, { track: 0, start: T(36), end: T(60), inPoint: T(7), name: TAKE.name, nodeId: got.audio.nodeId, mediaPath: media });
  assert.deepEqual(audioOf(dom, 0), [["A", 0, 36, "0"], [TAKE.name, 36, 60, T(7)], ["B", 60, 84, "0"]]);
  assert.deepEqual(audioOf(dom, 1), [["Music", 48, 84, "0"]]);
  assert.deepEqual(dom.destroyed, []);
  // And the facts report it for the workflow's read-back: where, source in and media.
  const a1 = runner.call("facts").sequence.audioTracks[0].clips.find((c) => c.name === TAKE.name);
  assert.deepEqual([a1.start, a1.end, a1.inPoint, a1.mediaPath], [T(36), T(60), T(7), media]);
});

test("host: an audio track taken over the range (a clip, or a crossfade) is refused before anything is placed", async () => {
  const spec = { tracks: [V1], audio: AUDIO };
  const seqRaw = makeSequence(spec);
  seqRaw.audioTracks[0].transitions = [{ name: "Constant Power", start: T(58), end: T(62) }];
  const { bridge, runner, media, seq } = await hostWithRender(seqRaw);
  const before = runner.dom.fullSnapshot();
  const step = (audioTrack) => Object.assign(plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 24 }])[0], { audioTrack });
  await assert.rejects(bridge.place(seq, step(1), TAKE, []), (e) => e.code === "not_free" && /A2 is not free there now \(clip 'Music'\)/.test(e.message));
  await assert.rejects(bridge.place(seq, step(0), TAKE, []), (e) => e.code === "not_free" && /A1 .*transition 'Constant Power'/.test(e.message));
  await assert.rejects(bridge.place(seq, step(5), TAKE, []), (e) => e.code === "no_such_track" && /audio track A6/.test(e.message));
  assert.equal(runner.dom.fullSnapshot(), before);
  assert.equal(runner.dom.mutations.length, 0);
});

for (const pastLastAudio of ["picture", "nothing"]) {
  test(`host: a picture with every audio track taken over its range targets no audio track, so no sound is destroyed (past the last audio track Premiere places ${pastLastAudio === "picture" ? "the picture alone" : "nothing"})`, async () => {
    const { bridge, dom, media, seq } = await hostWithRender({ tracks: [V1],
      audio: [[{ name: "Dialogue", start: 0, end: 84 }], [{ name: "Music", start: 30, end: 84 }]] }, { pastLastAudio });
    const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 12 }]);
    const before = dom.fullSnapshot();
    if (pastLastAudio === "picture") {
      const got = await bridge.place(seq, step, TAKE, []);
      assert.deepEqual([got.start, got.end, got.audio], [T(36), T(48), undefined]);
    } else {
      await assert.rejects(bridge.place(seq, step, TAKE, []), (e) => e.code === "placement_mismatch" &&
        /nothing landed on V1 \(every audio track has sound over this range, .* leave an audio track free over the range/.test(e.message));
      assert.equal(dom.fullSnapshot(), before);
    }
    assert.deepEqual(audioOf(dom, 0).map((c) => c[0]), ["Dialogue"]);
    assert.deepEqual(audioOf(dom, 1).map((c) => c[0]), ["Music"]);
    assert.deepEqual(dom.destroyed, []);
  });
}

test("host: a sequence with no audio track, where Premiere places nothing past the last one: the failure says to add one, nothing changed", async () => {
  const { bridge, dom, media, seq } = await hostWithRender({ tracks: [V1], audio: [] }, { pastLastAudio: "nothing" });
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 12 }]);
  const before = dom.fullSnapshot();
  await assert.rejects(bridge.place(seq, step, TAKE, []), (e) => e.code === "placement_mismatch" &&
    /nothing landed on V1 \(the sequence has no audio track, .* add an audio track and place again\)/.test(e.message));
  assert.equal(dom.fullSnapshot(), before);
  assert.deepEqual(dom.destroyed, []);
});

test("host: sound landing a frame off is a mismatch: picture and sound both removed again, the sequence as before", async () => {
  const { bridge, dom, media, seq } = await hostWithRender({ tracks: [V1], audio: AUDIO });
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 12, audio_track: 0 }]);
  const before = dom.fullSnapshot();
  dom.soundOff = { nth: 1, frames: 1 };
  await assert.rejects(bridge.place(seq, step, TAKE, []), (e) => e.code === "placement_mismatch" &&
    new RegExp("its sound landed on A1 at ticks " + T(37) + "-" + T(49)).test(e.message));
  assert.equal(dom.fullSnapshot(), before);
  assert.equal(dom.mutations.filter((m) => m.removed).length, 2);
});

test("host: media without sound when sound was asked for: nothing landed on the audio track, the picture removed again", async () => {
  const { bridge, dom, media, seq } = await hostWithRender({ tracks: [V1], audio: AUDIO }, { mediaHasAudio: false });
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 12, audio_track: 0 }]);
  const before = dom.fullSnapshot();
  await assert.rejects(bridge.place(seq, step, TAKE, []), (e) => e.code === "placement_mismatch" && /nothing landed on A1 \(Premiere read no sound in /.test(e.message));
  assert.equal(dom.fullSnapshot(), before);
});

test("host: a confirmed picture overwrite with its sound into free audio space destroys only the confirmed clip", async () => {
  const { bridge, dom, media, seq } = await hostWithRender({ tracks: [{ clips: [{ name: "A", start: 0, end: 36 }, { name: "B", start: 36, end: 84 }] }],
    audio: [[{ name: "A", start: 0, end: 36 }], []] });
  const steps = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 12, audio_track: 0 }],
    { placement: "overwrite" });
  assert.equal(steps[0].audioTrack, 0, "A1 is free over 36-47");
  const got = await bridge.place(seq, steps[0], TAKE, plan.confirmedOn(plan.destroyedBy(steps), 0));
  assert.equal(got.audio.track, 0);
  assert.deepEqual(dom.destroyed.map((d) => [d.track, d.name]), [[0, "B"]]);
  assert.deepEqual(audioOf(dom, 0).map((c) => c[0]), ["A", TAKE.name]);
});

test("host: removeClip takes off the take's sound on its audio track only, and leaves a look-alike with other media", async () => {
  const { bridge, dom, media, seq } = await hostWithRender({ tracks: [V1], audio: AUDIO });
  const [step] = plan.planPlacements(seq, [{ media, track: 0, record_frame: 36, source_in: 0, frames: 12, audio_track: 0 }]);
  const got = await bridge.place(seq, step, TAKE, []);
  assert.deepEqual(await bridge.removeClip(Object.assign({}, got.audio, { mediaPath: "/other.wav" }), true), { ok: true, removed: false });
  assert.deepEqual(await bridge.removeClip(Object.assign({}, got.audio, { track: 1 }), true), { ok: true, removed: false });
  assert.deepEqual(await bridge.removeClip(got.audio, true), { ok: true, removed: true });
  assert.deepEqual(audioOf(dom, 0).map((c) => c[0]), ["A", "B"]);
  assert.ok(dom.snapshot()[0].some((c) => c.name === TAKE.name), "the picture stays until it is removed itself");
});

test("mock: an overwrite destroys on the audio track exactly as on video (clips cut or removed, crossfades removed); a missing audio index places no sound", () => {
  const seq = makeSequence({ tracks: [{}], audio: [[{ name: "Dialogue", start: 0, end: 60 }, { name: "FX", start: 40, end: 50 }]] });
  seq.audioTracks[0].transitions = [{ name: "Constant Power", start: T(38), end: T(42) }];
  const m = new PremiereMock(seq, { importDelay: 0 });
  const media = path.join(DIR, "mock-tone.mov");
  fs.writeFileSync(media, "x");
  m.globals.app.project.importFiles([media], true, m.globals.app.project.rootItem, false);
  m.tick();
  const item = m.globals.app.project.rootItem.findItemsMatchingMediaPath(media, 1)[0];
  const sub = item.createSubClip("T", T(0), T(20), 1, 1, 1);
  m.globals.app.project.activeSequence.overwriteClip(sub, (Number(30n * TB) + Number(TB) / 4) / 254016000000, 0, 0);
  assert.deepEqual(audioOf(m, 0), [["Dialogue", 0, 30, "0"], ["T", 30, 50, "0"], ["Dialogue", 50, 60, T(50)]]);
  assert.deepEqual(m.destroyed.map((d) => [d.track, d.kind, d.name]), [["A0", "clip", "Dialogue"], ["A0", "clip", "FX"], ["A0", "transition", "Constant Power"]]);
  assert.equal(m.sequence.audio[0].transitions.length, 0);
  const sub2 = item.createSubClip("U", T(0), T(5), 1, 1, 1);
  m.globals.app.project.activeSequence.overwriteClip(sub2, (Number(70n * TB) + Number(TB) / 4) / 254016000000, 0, 4);
  assert.ok(!m.sequence.audio[0].clips.some((c) => c.name === "U"), "A5 does not exist: no sound, no error");
  assert.ok(m.sequence.tracks[0].clips.some((c) => c.name === "U"), "the picture lands");
});

// ------------------------------------------------------------------ the workflow

test("a placement that cut the editor's sound on the way (the flag-order try's sound spreading to a second audio track) says so", async () => {
  const { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO },
    (sf) => [{ track: sf.track, record_frame: 36, source_in: 0, frames: 24 }],
    { subclipFlags: "audioVideo", absentTypePoints: "subclip" });
  dom.spillAudio = true;  // the first (audio-only) try lands on the free A1 and over A2's music too
  const { take } = await place(wf, FILL);
  assert.deepEqual(take.items.map((it) => [it.start, it.end, it.audio]), [[T(36), T(60), undefined]]);
  assert.deepEqual(dom.destroyed.map((d) => [d.track, d.name]), [["A1", "Music"]]);
  assert.deepEqual(take.cut, ["‘Music’ on A2"]);
});

test("a placement that cut nothing of the editor's sound has nothing to say of it", async () => {
  const { wf } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO }, gapWithTone(0));
  const { take } = await place(wf, FILL);
  assert.deepEqual(take.cut, []);
});

test("fill a gap with room tone: picture on V1, its sound on A1 under the same frames, both in the take; remove last restores exactly", async () => {
  const { wf, dom, jobs } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO }, gapWithTone(0));
  const before = dom.fullSnapshot();
  const { take } = await place(wf, FILL);
  assert.equal(jobs.sent[0].tracks.children.filter((t) => t.kind === "Audio").length, 2);
  assert.deepEqual(audioOf(dom, 0).map((c) => c.slice(0, 3)), [["A", 0, 36], [take.name, 36, 60], ["B", 60, 84]]);
  assert.deepEqual(take.items[0].audio, Object.assign({}, take.items[0].audio, { track: 0, start: T(36), end: T(60), name: take.name }));
  assert.ok(take.items[0].audio.nodeId, "the sound's read-back is kept with the take");
  assert.deepEqual(dom.destroyed, []);
  const out = await wf.removeLast();
  assert.deepEqual(out.kept, []);
  assert.equal(dom.fullSnapshot(), before);
});

test("the server asks for a new audio track (the request's were all taken): the lowest existing one free now is used, else how to add one", async () => {
  const { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: [AUDIO[0].concat([{ name: "Room", start: 36, end: 60 }])] }, gapWithTone(null));
  const before = dom.fullSnapshot();
  const r = await wf.render(FILL);
  assert.equal(r.record.result.placements[0].audio_track, 1);
  await assert.rejects(wf.prepare(r.job, r.record), (e) => e.code === "no_free_audio_track" && /add an empty audio track/.test(e.message) &&
    e.message.includes("The render is kept: " + r.record.result.media[0]));
  assert.equal(dom.fullSnapshot(), before);
  assert.equal(dom.mutations.length, 0);
  dom.sequence.audio.push({ name: "Audio 2", clips: [], transitions: [] }); // the editor adds an audio track; Place again
  const take = await wf.place(r.job, r.record, await wf.prepare(r.job, r.record));
  assert.equal(take.items[0].audio.track, 1);
  assert.deepEqual(audioOf(dom, 1).map((c) => c.slice(0, 3)), [[take.name, 36, 60]]);
});

test("an extension's handles without sound and its generated frames with it: a mismatch on the sound rolls back every clip and sound", async () => {
  const { wf, dom } = setup({ playhead: 10, tracks: [V1, {}], audio: AUDIO },
    () => [{ track: 0, record_frame: 36, source_in: 0, frames: 5 }, { track: 0, record_frame: 41, source_in: 0, frames: 7, audio_track: 0 }]);
  const before = dom.fullSnapshot();
  const r = await wf.render({ operation: "extend", track: "auto", side: "tail", frames: 12, engine: "classical" });
  const prepared = await wf.prepare(r.job, r.record);
  assert.deepEqual(prepared.plan.map((s) => s.audioTrack), [null, 0]);
  dom.soundOff = { nth: 1, frames: 2 };
  await assert.rejects(wf.place(r.job, r.record, prepared), (e) => e.code === "placement_mismatch" && /its sound landed on A1/.test(e.message) &&
    /Nothing was placed: the sequence is exactly as before/.test(e.message));
  assert.equal(dom.fullSnapshot(), before);
  assert.equal(wf.lastTake("seq-Scene 1"), null);
});

test("new take with room tone: the old take's picture and sound come off, take 2's go onto the same V and A tracks", async () => {
  const { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: [AUDIO[0], [], []] }, gapWithTone(2));
  const { take: first } = await place(wf, FILL);
  assert.equal(first.items[0].audio.track, 2);
  // A lower audio track is free too: the new take still goes where the old one's sound was.
  const out = await wf.newTake({});
  assert.equal(out.take.items[0].audio.track, 2);
  assert.deepEqual(audioOf(dom, 2).map((c) => c.slice(0, 3)), [["ShotForge fill gap take 2", 36, 60]]);
  assert.deepEqual(audioOf(dom, 1), []);
  assert.deepEqual(dom.snapshot()[0].map((c) => c.name), ["A", "ShotForge fill gap take 2", "B"]);
});

test("new take when the old take's sound was changed on the sequence: not swapped, nothing touched", async () => {
  const { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO }, gapWithTone(0));
  const { take } = await place(wf, FILL);
  const tone = dom.sequence.audio[0].clips.find((c) => c.name === take.name);
  tone.end = T(55); // the editor trimmed the room tone
  const before = dom.fullSnapshot();
  await assert.rejects(wf.newTake({}), (e) => e.code === "take_changed");
  assert.equal(dom.fullSnapshot(), before);
});

test("new take whose swap fails: the old take's picture and sound are put back exactly", async () => {
  // (B has no sound here: sound landing a frame late over B's would cut it, which no removal undoes.)
  const { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: [[AUDIO[0][0]]] }, gapWithTone(0));
  await place(wf, FILL);
  const withFirst = dom.fullSnapshot();
  dom.soundOff = { nth: 1, frames: 1 };
  await assert.rejects(wf.newTake({}), (e) => e.code === "placement_mismatch" && /is back in its place, exactly as before/.test(e.message));
  assert.equal(dom.fullSnapshot(), withFirst);
});

test("TrackItem.remove taking the linked other half along (the other guess): remove last and a failed swap still end exactly as they should", async () => {
  let { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO }, gapWithTone(0));
  dom.removeLinked = true;
  const before = dom.fullSnapshot();
  await place(wf, FILL);
  assert.deepEqual((await wf.removeLast()).kept, []);
  assert.equal(dom.fullSnapshot(), before);
  assert.ok(dom.mutations.some((m) => m.linked), "the linked half went with the first one removed");
  ({ wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: [[AUDIO[0][0]]] }, gapWithTone(0)));
  dom.removeLinked = true;
  await place(wf, FILL);
  const withFirst = dom.fullSnapshot();
  dom.soundOff = { nth: 1, frames: 1 };
  await assert.rejects(wf.newTake({}), (e) => e.code === "placement_mismatch" && /is back in its place, exactly as before/.test(e.message));
  assert.equal(dom.fullSnapshot(), withFirst);
});

for (const linked of [false, true]) {
  test(`remove last after the editor trimmed the take's sound: the picture linked to it stays with it, both listed (remove ${linked ? "takes" : "leaves"} the linked half)`, async () => {
    const { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO }, gapWithTone(0));
    dom.removeLinked = linked;
    const { take } = await place(wf, FILL);
    const tone = dom.sequence.audio[0].clips.find((c) => c.name === take.name);
    tone.end = T(55);
    const before = dom.fullSnapshot();
    const out = await wf.removeLast();
    assert.deepEqual(out.kept.map((k) => [k.audio === true, k.track]), [[false, 0], [true, 0]]);
    const now = JSON.parse(dom.fullSnapshot()), then = JSON.parse(before);
    assert.deepEqual([now.video, now.audio, now.markers], [then.video, then.audio, []], "only the take's marker came off");
    assert.ok(dom.sequence.audio[0].clips.includes(tone));
  });

  test(`remove last after the editor deleted the take's sound: its picture goes (remove ${linked ? "takes" : "leaves"} the linked half)`, async () => {
    const { wf, dom } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO }, gapWithTone(0));
    dom.removeLinked = linked;
    const before = dom.fullSnapshot();
    const { take } = await place(wf, FILL);
    const a1 = dom.sequence.audio[0];
    a1.clips.splice(a1.clips.findIndex((c) => c.name === take.name), 1);
    const out = await wf.removeLast();
    assert.deepEqual(out.kept.map((k) => [k.audio === true, k.track]), [[true, 0]]);
    assert.equal(dom.fullSnapshot(), before);
  });
}

test("the panel reloaded in the middle of placing picture and sound: recover() takes both off, the sequence exactly as before", async () => {
  const { wf, dom, runner, jobs } = setup({ playhead: 45, tracks: [V1, {}], audio: AUDIO }, gapWithTone(0));
  const before = dom.fullSnapshot();
  const r = await wf.render(FILL);
  const prepared = await wf.prepare(r.job, r.record);
  // The page goes away after Premiere placed the clip: its answer never comes.
  const { Workflow } = require("../../js/sf_workflow");
  const dying = new Workflow({ host: (script, cb) => setImmediate(() => { const out = runner.evalScript(script); if (!/ShotForgeHost\.place\(/.test(script)) cb(out); }),
    client: jobs, store: wf.store, bridgeOptions: { importDelayMs: 1 } });
  dying.place(r.job, r.record, prepared);
  const deadline = Date.now() + 5000;
  while (!dom.sequence.audio[0].clips.some((c) => c.name === "ShotForge fill gap take 1")) {
    if (Date.now() > deadline) throw new Error("the placement never ran");
    await new Promise((ok) => setTimeout(ok, 2));
  }
  const cut = await wf.recover();
  assert.equal(cut.length, 1);
  assert.equal(dom.fullSnapshot(), before);
});
