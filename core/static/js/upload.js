// Resumable uploads with progress, as an enhancement of the plain upload form.
// Without JavaScript the form posts the file in one request.
(function () {
  "use strict";
  var CHUNK = 8 * 1024 * 1024;

  // The page gives each message in its language (data-message-* on the form).
  function message(form, name, fallback, values) {
    var text = form.dataset[name] || fallback;
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("{" + key + "}").join(values[key]);
    });
    return text;
  }

  function say(form, text) {
    var status = form.querySelector(".upload-status");
    if (status) { status.textContent = text; }
  }

  function request(method, url, token, body, headers) {
    var init = { method: method, headers: headers || {}, credentials: "same-origin", body: body };
    init.headers["X-CSRFToken"] = token;
    return fetch(url, init);
  }

  async function currentOffset(form, url, token) {
    var response = await request("HEAD", url, token);
    if (!response.ok) {
      throw new Error(message(form, "messageLost", "The upload can no longer be resumed."));
    }
    return parseInt(response.headers.get("Upload-Offset") || "0", 10);
  }

  async function send(form, file) {
    var token = form.querySelector("[name=csrf_token]").value;
    var meta = {
      filename: file.name,
      length: file.size,
      lock_version: parseInt(form.querySelector("[name=lock_version]").value, 10)
    };
    ["alt_text", "transcript"].forEach(function (name) {
      var field = form.querySelector("[name=" + name + "]");
      if (field && field.value.trim()) { meta[name] = field.value; }
    });
    var started = await request("POST", form.dataset.uploadStart, token, JSON.stringify(meta),
      { "Content-Type": "application/json" });
    var startBody = await started.json();
    if (!started.ok) {
      throw new Error(startBody.message || message(form, "messageNotStarted", "The upload could not start."));
    }
    var url = startBody.upload_url;
    var offset = 0;
    var failures = 0;
    var progress = form.querySelector("progress");
    while (offset < file.size) {
      try {
        var response = await request("PATCH", url, token, file.slice(offset, offset + CHUNK), {
          "Content-Type": "application/offset+octet-stream", "Upload-Offset": String(offset)
        });
        if (response.status === 409) { offset = await currentOffset(form, url, token); continue; }
        if (!response.ok) {
          var problem = await response.json();
          throw Object.assign(
            new Error(problem.message || message(form, "messageFailed", "The upload failed.")),
            { final: true });
        }
        offset = parseInt(response.headers.get("Upload-Offset"), 10);
        failures = 0;
        progress.value = Math.round((offset / file.size) * 100);
        say(form, message(form, "messageProgress", "Uploaded {percent}% of {name}.",
          { percent: progress.value, name: file.name }));
      } catch (error) {
        if (error.final || ++failures > 8) { throw error; }
        say(form, message(form, "messageRetry", "Connection lost; retrying…"));
        await new Promise(function (done) { setTimeout(done, 1000 * failures); });
        offset = await currentOffset(form, url, token);
      }
    }
  }

  document.querySelectorAll(".upload-form").forEach(function (form) {
    form.addEventListener("submit", async function (event) {
      var input = form.querySelector("input[type=file]");
      if (!window.fetch || !input.files.length) { return; }
      event.preventDefault();
      form.querySelector(".upload-progress").hidden = false;
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await send(form, input.files[0]);
        say(form, message(form, "messageDone", "Upload complete."));
        window.location.hash = form.closest("section").id;
        window.location.reload();
      } catch (error) {
        say(form, error.message);
        button.disabled = false;
      }
    });
  });
})();
