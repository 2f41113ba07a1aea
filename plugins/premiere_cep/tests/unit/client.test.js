/*
 * The panel's HTTP client (js/sf_client.js) against a stand-in fetch that loses the first answer
 * of a submit: the retry carries the same Idempotency-Key, so the server returns the first job.
 */
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");

const { Client } = require("../../js/sf_client");

function lossyFetch(seen) {
  const jobs = {};
  return (url, init) => {
    seen.push({ url, key: init.headers["Idempotency-Key"], body: init.body });
    if (seen.length === 1) return Promise.reject(new TypeError("Failed to fetch"));
    const key = init.headers["Idempotency-Key"];
    jobs[key] = jobs[key] || "job-" + (Object.keys(jobs).length + 1);
    return Promise.resolve({ ok: true, status: 200, text: () => Promise.resolve(JSON.stringify({ id: jobs[key] })) });
  };
}

test("a lost submit answer is asked again with the same Idempotency-Key", async () => {
  const seen = [];
  const client = new Client({ baseUrl: "http://127.0.0.1:1", fetch: lossyFetch(seen) });
  assert.equal(await client.submit({ OTIO_SCHEMA: "Timeline.1" }), "job-1");
  assert.equal(seen.length, 2);
  assert.ok(seen[0].key.startsWith("shotforge-premiere-") && seen[0].key.length > 30);
  assert.equal(seen[0].key, seen[1].key);
  assert.equal(seen[0].body, seen[1].body);
});

test("each submit has its own key, and a refusal is not retried", async () => {
  const seen = [];
  const client = new Client({ baseUrl: "http://127.0.0.1:1", fetch: (url, init) => {
    seen.push(init.headers["Idempotency-Key"]);
    return Promise.resolve({ ok: false, status: 422, statusText: "Unprocessable",
      text: () => Promise.resolve(JSON.stringify({ error: { code: "no_gap_at_frame", message: "no gap at frame 50" } })) });
  } });
  await assert.rejects(client.submit({}), (e) => e.code === "no_gap_at_frame");
  await assert.rejects(client.submit({}), (e) => e.code === "no_gap_at_frame");
  assert.equal(seen.length, 2);
  assert.notEqual(seen[0], seen[1]);
});

test("a lost re-render answer is asked again with the same key, so one take is made", async () => {
  const seen = [];
  const client = new Client({ baseUrl: "http://127.0.0.1:1", fetch: lossyFetch(seen) });
  assert.equal(await client.rerender("take-7", { seed: 8 }), "job-1");
  assert.equal(seen.length, 2);
  assert.ok(seen[0].url.endsWith("/v1/takes/take-7/rerender"));
  assert.ok(seen[0].key.startsWith("shotforge-premiere-"));
  assert.equal(seen[0].key, seen[1].key);
  assert.equal(seen[0].body, seen[1].body);
});
