/*
 * ShotForge for Premiere Pro: the panel's side of the ExtendScript bridge.
 *
 * Every evalScript string is built here, and every argument goes through lit() (JSON.stringify,
 * plus escaping U+2028/U+2029, which ES3 reads as line breaks inside a string literal), so
 * Windows paths, quotes and non-ASCII names arrive intact. Replies are JSON text written by the
 * host; "EvalScript error." and anything unparsable become a ShotForgeError.
 *
 * `evalScript(script, callback)` is injected: CSInterface's in CEP, the mock's in tests.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory(require("./sf_core.js"));
  else root.ShotForgeHostBridge = factory(root.ShotForgeCore);
})(typeof self !== "undefined" ? self : this, function (core) {
  "use strict";

  var ShotForgeError = core.ShotForgeError;

  function lit(value) {
    return JSON.stringify(value).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  }

  function script(fn, args) {
    return "ShotForgeHost." + fn + "(" + (args || []).map(lit).join(", ") + ")";
  }

  function sleep(ms) {
    return new Promise(function (r) { setTimeout(r, ms); });
  }

  /**
   * @param evalScript function(script, callback(resultString))
   * @param options {importTries, importDelayMs, binName}
   */
  function HostBridge(evalScript, options) {
    this.evalScript = evalScript;
    this.options = Object.assign({ importTries: 20, importDelayMs: 250, binName: "ShotForge" }, options || {});
  }

  HostBridge.prototype.call = function (fn, args) {
    var self = this;
    var text = script(fn, args);
    return new Promise(function (resolve, reject) {
      self.evalScript(text, function (result) {
        if (result === "EvalScript error." || result === undefined || result === null || result === "") {
          reject(new ShotForgeError("host_error", "Premiere could not run ShotForgeHost." + fn +
            " (" + (result || "no answer") + "); is the ShotForge host script loaded?"));
          return;
        }
        var data;
        try { data = JSON.parse(result); } catch (e) {
          reject(new ShotForgeError("host_error", "Premiere answered ShotForgeHost." + fn + " with " + String(result).slice(0, 200)));
          return;
        }
        if (!data.ok) {
          var err = data.error || {};
          var refused = new ShotForgeError(err.code || "host_error", err.message || "Premiere refused " + fn);
          refused.reply = data; // e.g. what landed, or what occupies the range
          reject(refused);
          return;
        }
        resolve(data);
      });
    });
  };

  HostBridge.prototype.facts = function () { return this.call("facts", []); };

  /** Import `path` into the ShotForge bin and wait (bounded) until the project item exists. */
  HostBridge.prototype.importMedia = function (path) {
    var self = this, o = this.options;
    return this.call("importMedia", [path, o.binName]).then(function (r) {
      if (r.present && !r.offline) return { path: path, waited: 0 };
      var tries = 0;
      function poll() {
        tries += 1;
        return self.call("findItem", [path]).then(function (f) {
          if (f.found && f.offline) {
            throw new ShotForgeError("media_offline", "Premiere imported " + path + " but shows it offline (it cannot read the file); " +
              "nothing was placed");
          }
          if (f.found) return { path: path, waited: tries };
          if (tries >= o.importTries) {
            throw new ShotForgeError("import_timeout", "Premiere did not show " + path + " in the project after " + tries +
              " checks; import it by hand (it is a finished ShotForge render)");
          }
          return sleep(o.importDelayMs).then(poll);
        });
      }
      return poll();
    });
  };

  /**
   * Put one plan step (sf_plan.planPlacements) on the sequence as part of `take` ({name,
   * colorLabel}). `confirmed` is what the editor agreed may be overwritten on this track
   * (sf_plan.confirmedOn: [{kind, nodeId, name, start, end}]; [] when the range must be free): it
   * crosses the bridge as an array literal. A step with `audioTrack` brings the media's sound onto
   * that audio track too. The host places exactly this clip (and its sound) or nothing; the reply is
   * the read-back {start, end, inPoint, track, name, nodeId, mediaPath, label, audio: {track, start,
   * end, inPoint, name, nodeId, mediaPath} | null}.
   */
  HostBridge.prototype.place = function (seq, step, take, confirmed) {
    return this.call("place", [step.media, step.track, step.recordTicks, step.recordEndTicks, step.sourceInTicks,
      step.sourceOutTicks, seq.tpf.toString(), take.name, take.colorLabel, seq.id || "", confirmed || [],
      step.audioTrack == null ? -1 : step.audioTrack]);
  };

  /** Remove the take's clip (or, with `audio`, its sound) exactly as placed: {track, start, end, name}
   *  and, when known, its source in and media file (so an editor's clip that only shares the name and
   *  slot stays); {removed}. */
  HostBridge.prototype.removeClip = function (item, audio) {
    return this.call("removeClip", [item.track, item.start, item.end, item.name, item.inPoint || "", item.mediaPath || "",
      audio ? "audio" : "video"]);
  };

  /** Whether `path` exists on Premiere's machine: {exists}. */
  HostBridge.prototype.fileExists = function (path) { return this.call("fileExists", [path]); };

  /** Ask Premiere to keep the panel loaded while hidden (a running job keeps polling): {persistent}. */
  HostBridge.prototype.keepLoaded = function () { return this.call("keepLoaded", []); };

  HostBridge.prototype.addMarker = function (seq, startTicks, endTicks, name, comments) {
    return this.call("addMarker", [startTicks, endTicks, seq.tpf.toString(), name, comments]);
  };

  HostBridge.prototype.removeMarker = function (marker) {
    return this.call("removeMarker", [marker.guid || "", marker.start, marker.name]);
  };

  return { HostBridge: HostBridge, lit: lit, script: script };
});
