// Keyboard shortcuts on the scoring page, for reviewers who score all day.
//   1–9 (focus anywhere in a criterion, not in a text box): choose that level, 1 = lowest
//   Ctrl+S (or Cmd+S): save the draft
(function () {
  "use strict";
  var form = document.querySelector(".scoring-form");
  if (!form) { return; }
  form.addEventListener("keydown", function (event) {
    var target = event.target;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      var save = form.querySelector("button[value=save]");
      if (save) { save.click(); }
      return;
    }
    if (target.tagName === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var digit = parseInt(event.key, 10);
    var fieldset = target.closest("fieldset");
    if (!fieldset || isNaN(digit) || digit < 1) { return; }
    var radios = Array.prototype.slice.call(fieldset.querySelectorAll("input[type=radio]")).reverse();
    if (digit <= radios.length) {
      event.preventDefault();
      radios[digit - 1].checked = true;
      radios[digit - 1].focus();
    }
  });
})();
