/* Deadlines counted down in the browser: an order's approval deadline and a price review's
   expiry. Optional: the server writes the time left into the page, and the page is right
   without this script (it only keeps the figure moving between reloads).

   <p data-time-left="7260">… <strong data-time-left-text>2 h 01 min</strong> …</p>

   counts from the server's seconds (never the browser's clock, which may be wrong), writes the
   same words as otc.portal.presentation.time_left_text, and at zero hides [data-live-only] and
   shows [data-expired-only] inside the nearest [data-countdown-scope]. Content htmx swaps in
   (the order page's live part) starts its own countdown. */
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function words(seconds) {
    if (seconds <= 0) return "no time left";
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    if (hours) return hours + " h " + pad(minutes) + " min";
    if (minutes) return minutes + " min " + pad(secs) + " s";
    return secs + " s";
  }

  function start(el) {
    if (el.getAttribute("data-counting")) return;
    var seconds = parseInt(el.getAttribute("data-time-left"), 10);
    if (isNaN(seconds)) return;
    el.setAttribute("data-counting", "1");
    var deadline = Date.now() + seconds * 1000;
    var text = el.querySelector("[data-time-left-text]");
    var scope = el.closest("[data-countdown-scope]");
    function tick() {
      if (!document.documentElement.contains(el)) return; // swapped out by htmx
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (text) text.textContent = words(left);
      el.classList.toggle("urgent", left <= 60);
      if (left <= 0) {
        if (scope) {
          scope.querySelectorAll("[data-live-only]").forEach(function (n) { n.hidden = true; });
          scope.querySelectorAll("[data-expired-only]").forEach(function (n) { n.hidden = false; });
        }
        return;
      }
      window.setTimeout(tick, 500);
    }
    tick();
  }

  function within(root) {
    if (root.matches && root.matches("[data-time-left]")) start(root);
    root.querySelectorAll("[data-time-left]").forEach(start);
  }

  document.addEventListener("DOMContentLoaded", function () { within(document); });
  document.addEventListener("htmx:load", function (event) { within(event.detail.elt); });
})();
