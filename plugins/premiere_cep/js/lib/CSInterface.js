/*
 * The subset of Adobe's CSInterface.js this panel uses (evalScript, getSystemPath,
 * addEventListener), written against CEP's `window.__adobe_cep__` bridge, which is what
 * Adobe's CSInterface.js calls too. Drop Adobe's full CSInterface.js (CEP-Resources,
 * CEP_12.x/CSInterface.js) in its place if you need more of it; nothing else changes.
 * Outside CEP (a plain browser) evalScript answers "EvalScript error." so the panel says
 * that Premiere is not connected instead of failing silently.
 */
(function (root) {
  "use strict";
  if (root.CSInterface) return; // a test stub or Adobe's own file got here first

  var SystemPath = { USER_DATA: "userData", COMMON_FILES: "commonFiles", MY_DOCUMENTS: "myDocuments",
    APPLICATION: "application", EXTENSION: "extension", HOST_APPLICATION: "hostApplication" };

  function CSInterface() {}

  CSInterface.prototype.evalScript = function (script, callback) {
    callback = callback || function () {};
    var cep = root.__adobe_cep__;
    if (!cep || !cep.evalScript) { setTimeout(function () { callback("EvalScript error."); }, 0); return; }
    cep.evalScript(script, callback);
  };

  CSInterface.prototype.getSystemPath = function (pathType) {
    var cep = root.__adobe_cep__;
    if (!cep || !cep.getSystemPath) return "";
    var p = decodeURI(cep.getSystemPath(pathType));
    return p.replace(/^file:\/{2,3}/, "/").replace(/^\/([A-Za-z]:)/, "$1");
  };

  CSInterface.prototype.addEventListener = function (type, listener, obj) {
    var cep = root.__adobe_cep__;
    if (cep && cep.addEventListener) cep.addEventListener(type, listener, obj);
  };

  root.CSInterface = CSInterface;
  root.SystemPath = SystemPath;
})(window);
