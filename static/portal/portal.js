/* The portal's small behaviours, all optional: the pages work without them.
   - a live countdown to a quote's expiry that swaps Confirm for "Refresh quote" at zero
   - copy buttons
   - the buy/sell and pay/receive switches updating the amount's label and hint (the "We read this as" preview
     under the amount is htmx asking the server, whose reading is the one that counts)
   - forms submitted once (the server's idempotency key is the real guarantee)
   - a confirmation prompt before revoking a key */
(function () {
  "use strict";

  function startCountdown(el) {
    var secondsLeft = parseInt(el.getAttribute("data-countdown"), 10);
    if (isNaN(secondsLeft)) return;
    // Count from the server's remaining seconds, not the client's clock, so clock skew
    // between the browser and the server does not matter.
    var deadline = Date.now() + secondsLeft * 1000;
    var text = el.querySelector("[data-countdown-text]");
    var panel = el.closest(".quote") || document;
    function tick() {
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (text) text.textContent = left + " s";
      el.classList.toggle("urgent", left <= 10);
      if (left <= 0) {
        panel.querySelectorAll("[data-live-only]").forEach(function (n) { n.hidden = true; });
        panel.querySelectorAll("[data-expired-only]").forEach(function (n) { n.hidden = false; });
        var refresh = panel.querySelector("#refresh-quote");
        if (refresh && document.activeElement && document.activeElement.id === "confirm") {
          refresh.focus();
        }
        return;
      }
      window.setTimeout(tick, 250);
    }
    tick();
  }

  function copyFrom(button) {
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) return;
    var value = "value" in target && target.value !== undefined ? target.value : target.textContent;
    function done(ok) {
      var original = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", original);
      button.textContent = ok ? "Copied" : "Select and copy";
      window.setTimeout(function () { button.textContent = original; }, 2000);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value.trim()).then(function () { done(true); }, function () { done(false); });
    } else {
      if (target.select) { target.select(); }
      else {
        var range = document.createRange();
        range.selectNodeContents(target);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      done(ok);
    }
  }

  function sideSwitch(form) {
    var limitsNode = document.getElementById("amount-limits");
    if (!limitsNode) return;
    var modes = JSON.parse(limitsNode.textContent);
    var amount = form.querySelector("#id_amount");
    if (!amount) return;
    var label = form.querySelector('label[for="id_amount"]');
    var help = document.getElementById("id_amount_helptext");
    function checkedValue(name, fallback) {
      var checked = form.querySelector('input[name="' + name + '"]:checked');
      return checked ? checked.value : fallback;
    }
    function update() {
      // "buy-source", "sell-destination", ...: the amount's currency, label and hint.
      var side = checkedValue("side", "buy");
      var info = modes[side + "-" + checkedValue("fixed_side", "source")];
      if (!info) return;
      if (label) label.textContent = info.label;
      if (help) help.textContent = info.help;
      if (info.placeholder) amount.setAttribute("placeholder", info.placeholder);
      amount.setAttribute("data-currency", info.currency);
      form.querySelectorAll("[data-fixed]").forEach(function (option) {
        var text = option.querySelector("[data-fixed-label]");
        var mode = modes[side + "-" + option.getAttribute("data-fixed")];
        if (text && mode) text.textContent = mode.fixedLabel;
      });
    }
    form.querySelectorAll('input[name="side"], input[name="fixed_side"]').forEach(function (r) {
      r.addEventListener("change", function () {
        update();
        // The preview under the field is the server's reading in the new currency (htmx).
        if (amount.value.trim()) amount.dispatchEvent(new Event("side-changed"));
      });
    });
    update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-countdown]").forEach(startCountdown);
    // After "Get quote" the answer is the news: take keyboard and screen-reader focus there.
    var quoteHeading = document.getElementById("quote-h");
    if (quoteHeading && !document.querySelector("#quote-form [aria-invalid=true]")) {
      quoteHeading.setAttribute("tabindex", "-1");
      quoteHeading.focus({ preventScroll: false });
    }
    var quoteForm = document.getElementById("quote-form");
    if (quoteForm) sideSwitch(quoteForm);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (button) { event.preventDefault(); copyFrom(button); }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var prompt = form.getAttribute("data-confirm-text");
    if (prompt && !window.confirm(prompt)) { event.preventDefault(); return; }
    if (form.hasAttribute("data-submit-once")) {
      if (form.getAttribute("data-submitted")) { event.preventDefault(); return; }
      form.setAttribute("data-submitted", "1");
      form.querySelectorAll("button[type=submit]").forEach(function (b) {
        b.setAttribute("aria-disabled", "true");
        b.classList.add("busy");
      });
    }
  });
})();
