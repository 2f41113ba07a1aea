#!/usr/bin/env node
/*
 * Print the request OTIO JSON the panel would POST, built by js/sf_core.js from a sequence
 * in the facts shape (a fixture name under tests/fixtures/sequences, or a path to a JSON file).
 *   node build_request.js SEQUENCE '{"playhead":130}' '{"operation":"fill_gap","track":"auto"}'
 * The state (playhead/inFrame/outFrame/select) is in frames at the sequence rate.
 */
"use strict";
const fs = require("fs");
const core = require("../../js/sf_core");
const { loadSequence, withState } = require("../helpers");

const [name, stateJson = "{}", optionsJson = "{}"] = process.argv.slice(2);
const raw = fs.existsSync(name) ? JSON.parse(fs.readFileSync(name, "utf8")) : loadSequence(name);
try {
  const seq = core.readSequence({ sequence: withState(raw, JSON.parse(stateJson)) });
  const { otio } = core.buildRequest(seq, JSON.parse(optionsJson));
  process.stdout.write(JSON.stringify(otio, null, 1));
} catch (e) {
  process.stderr.write(`${e.code || "error"}: ${e.message}\n`);
  process.exit(2);
}
