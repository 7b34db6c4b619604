// mtguard console: polling for new calls and keyboard navigation. No inline script anywhere
// (the Content-Security-Policy forbids it); the server renders and escapes every row.
"use strict";
(function () {
  var table = document.getElementById("calls");
  if (table && table.dataset.live) {
    var url = table.dataset.live;
    var body = table.tBodies[0];
    var status = document.getElementById("live");
    var live = function (msg) { if (status && status.textContent !== msg) { status.textContent = msg; } };
    var poll = function () {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401) { window.location.reload(); throw new Error("signed out"); }
          if (!r.ok) { throw new Error("status " + r.status); }
          return r.text();
        })
        .then(function (html) {
          var first = body.rows.length ? body.rows[0].dataset.id : "";
          var tpl = document.createElement("template");
          tpl.innerHTML = "<table><tbody>" + html + "</tbody></table>";
          var rows = tpl.content.querySelector("tbody");
          if (rows.rows.length && rows.rows[0].dataset.id !== first) {
            body.replaceWith(rows);
            body = rows;
            var empty = document.getElementById("empty");
            if (empty) { empty.remove(); }
          }
        })
        .then(function () { live(""); })
        .catch(function (e) { live("Live updates paused (" + e.message + "); they resume when mtguard answers again."); });
    };
    window.setInterval(poll, 2000);
  }
  // Copy as curl: fetch the command (redacted as stored) and put it on the clipboard.
  var curl = document.getElementById("curl");
  if (curl && navigator.clipboard) {
    curl.addEventListener("click", function (e) {
      e.preventDefault();
      fetch(curl.href, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("status " + r.status); } return r.text(); })
        .then(function (t) { return navigator.clipboard.writeText(t); })
        .then(function () { document.getElementById("copied").textContent = "Copied."; })
        .catch(function () { window.location.href = curl.href; });
    });
  }
  // Keyboard: "/" focuses the first filter, j/k move between rows, Enter opens.
  var cur = -1;
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
    if (e.key === "/") {
      var f = document.querySelector("form[role=search] input");
      if (f) { e.preventDefault(); f.focus(); }
      return;
    }
    var tb = document.querySelector("#calls tbody");
    if (!tb || (e.key !== "j" && e.key !== "k")) { return; }
    var rows = tb.rows;
    if (!rows.length) { return; }
    cur = e.key === "j" ? Math.min(cur + 1, rows.length - 1) : Math.max(cur - 1, 0);
    var a = rows[cur].querySelector("td.path a");
    if (a) { a.focus(); }
  });
})();
