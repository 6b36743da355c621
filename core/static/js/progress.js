// Live progress of a bulk verification, as an enhancement of its status page.
// Without JavaScript the page's "Reload" link shows the latest progress.
(function () {
  "use strict";
  var panel = document.querySelector("[data-bulk-status-url]");
  if (!panel || !window.fetch) { return; }
  var url = panel.dataset.bulkStatusUrl;
  var bar = panel.querySelector("progress");
  var percent = panel.querySelector(".progress-percent");
  var live = panel.querySelector("[aria-live]");
  var announcedTenth = Math.floor(bar.value / Math.max(bar.max, 1) * 10);
  var failures = 0;

  function message(template, state) {
    return template
      .replace("{done}", state.done.toLocaleString())
      .replace("{total}", state.total.toLocaleString())
      .replace("{percent}", String(state.percent));
  }

  function finish(text) {
    live.textContent = text;
    // Give a screen reader time to say it; the page then shows the results.
    setTimeout(function () { window.location.reload(); }, 1500);
  }

  function show(state) {
    bar.max = Math.max(state.total, 1);
    bar.value = state.done;
    bar.textContent = state.percent + "%";
    percent.textContent = state.percent + "%";
    if (state.status === "done") { finish(panel.dataset.messageDone); return true; }
    if (state.status === "failed") { finish(panel.dataset.messageFailed); return true; }
    // The live region speaks every tenth, not every second.
    var tenth = Math.floor(state.percent / 10);
    if (tenth !== announcedTenth) {
      announcedTenth = tenth;
      live.textContent = message(panel.dataset.messageProgress, state);
    }
    return false;
  }

  async function poll() {
    try {
      var response = await fetch(url, {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      });
      if (!response.ok) { throw new Error(String(response.status)); }
      failures = 0;
      if (show(await response.json())) { return; }
    } catch (error) {
      if (++failures > 10) { live.textContent = panel.dataset.messageLost; return; }
    }
    setTimeout(poll, 1000);
  }

  setTimeout(poll, 1000);
})();
