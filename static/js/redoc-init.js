/* Starts Redoc on the API docs page (templates/drf_spectacular/redoc.html) without an
   inline script. The nonce of this script's own tag (the response's CSP nonce) is handed to
   Redoc, which puts it on the <style> elements it writes, so that style-src needs no
   'unsafe-inline'. */
(function () {
  "use strict";
  var nonce = document.currentScript && document.currentScript.nonce;
  var container = document.getElementById("redoc-container");
  if (!container || typeof Redoc === "undefined") return;
  Redoc.init(container.dataset.specUrl, nonce ? { nonce: nonce } : {}, container);
})();
