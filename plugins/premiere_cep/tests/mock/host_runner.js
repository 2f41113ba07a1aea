/*
 * Runs jsx/host.jsx in a node vm against the mock DOM, the way CEP's evalScript runs scripts
 * in Premiere's ExtendScript engine: each call evaluates a script string in the same global
 * scope and hands back the completion value as a string ("EvalScript error." on exception).
 * No JSON global is given to the host (ExtendScript has none reliably).
 */
"use strict";

const fs = require("fs");
const path = require("path");
const vm = require("vm");
const { PremiereMock } = require("./ppro_dom");

const HOST_JSX = path.join(__dirname, "..", "..", "jsx", "host.jsx");

class HostRunner {
  constructor(sequence, options = {}) {
    this.dom = new PremiereMock(sequence, options);
    const g = Object.assign({}, this.dom.globals);
    this.context = vm.createContext(g);
    // ExtendScript has no JSON: make sure the host never relies on one being there.
    // Nor the ES5 library: ExtendScript is ES3 (no Array#forEach/map/indexOf, String#trim, Object.keys, Date.now…).
    vm.runInContext("delete this.JSON; var JSON = undefined;" +
      "['forEach','map','filter','reduce','reduceRight','some','every','indexOf','lastIndexOf'].forEach(function (m) { delete Array.prototype[m]; });" +
      "delete String.prototype.trim; delete Object.keys; delete Object.create; delete Array.isArray; delete Function.prototype.bind;" +
      "delete Date.now; delete Date.prototype.toISOString;",
      this.context);
    vm.runInContext(fs.readFileSync(HOST_JSX, "utf8"), this.context, { filename: "host.jsx" });
    this.scripts = [];
  }

  /** evalScript: the string result, or "EvalScript error." when the script throws. */
  evalScript(script) {
    this.scripts.push(script);
    this.dom.tick();
    try {
      const v = vm.runInContext(script, this.context, { filename: "evalScript", timeout: 5000 });
      return v === undefined ? "undefined" : String(v);
    } catch (e) {
      this.lastError = e;
      return "EvalScript error.";
    }
  }

  call(fn, ...args) {
    const script = `ShotForgeHost.${fn}(${args.map((a) => JSON.stringify(a)).join(", ")})`;
    return JSON.parse(this.evalScript(script));
  }
}

module.exports = { HostRunner, HOST_JSX };
