// The console's only script (no build step, nothing inline, CSP script-src 'self').
// 1. Live pages: every few seconds, fetch the page's <main> again and swap it in, unless the
//    operator is in the middle of something (a ticked box, a focused field, an open panel).
// 2. Buttons with data-confirm ask before a bulk action.
"use strict";
(function () {
  var main = document.getElementById("live");
  var updated = document.getElementById("updated");

  function busy() {
    var active = document.activeElement;
    if (active && main.contains(active) && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) return true;
    return main.querySelector("input[type=checkbox]:checked, details[open]:not([data-keep])") !== null;
  }

  function refresh() {
    if (document.hidden || busy()) return;
    fetch(window.location.href, {
      headers: { "X-Console-Fragment": "1" },
      credentials: "same-origin",
      redirect: "error",
    })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        if (busy()) return;
        main.innerHTML = html;
        main.dataset.refreshedAt = String(Date.now());
        if (updated) updated.textContent = "as of " + new Date().toISOString().slice(0, 19).replace("T", " ") + " UTC";
      })
      .catch(function () {
        if (updated) updated.textContent = "updates paused: the server did not answer";
      });
  }

  if (main && main.dataset.refresh) {
    window.setInterval(refresh, Number(main.dataset.refresh) * 1000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
  });
})();
