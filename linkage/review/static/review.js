// The reviewer workbench's keyboard: one key per action (our code; no inline script, no library).
//   m / n / u  match / not a match / unsure (the buttons of the decision form; m confirms in the
//              "to confirm" queue)
//   j / k      next / previous item of the queue
//   z          undo my last decision
// Keys are ignored while typing in a field, and with Ctrl, Alt or Meta held.
(function () {
  "use strict";
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function press(selector) {
    var el = document.querySelector(selector);
    if (!el) return false;
    el.click();
    return true;
  }
  function follow(rel) {
    var a = document.querySelector('a[rel="' + rel + '"]');
    if (!a) return false;
    window.location.assign(a.href);
    return true;
  }
  var busy = false;
  document.addEventListener("keydown", function (ev) {
    if (busy || ev.ctrlKey || ev.altKey || ev.metaKey || typing(ev.target)) return;
    var done = false;
    switch (ev.key) {
      case "m": done = press('#decide button[data-key="m"]'); break;
      case "n": done = press('#decide button[data-key="n"]'); break;
      case "u": done = press('#decide button[data-key="u"]'); break;
      case "j": done = follow("next"); break;
      case "k": done = follow("prev"); break;
      case "z": done = press("#undo button"); break;
    }
    if (done) {
      busy = true; // one action per page: a held key must not decide twice
      ev.preventDefault();
    }
  });
})();
