// Live status: one EventSource per page that has [data-live]; each status event updates
// the matching [data-project] element without a reload. EventSource reconnects by itself,
// sending Last-Event-ID, so the server replays what was missed.
"use strict";

(function () {
  var root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) return;
  var project = root.getAttribute("data-live");
  var url = "/api/v1/events" + (project ? "?project=" + encodeURIComponent(project) : "");
  var source = null;
  var STEPS = {deploying: ["rolling_out", "Rolling out"], running: ["healthy", "Healthy"],
    failed: ["failed", "Failed"], stopped: ["stopped", "Stopped"]};

  function setBadge(badge, status) {
    badge.textContent = status;
    badge.className = "status status-" + status;
  }

  // A deployment's timeline gets the step a status names, when it is a new one.
  function addStep(list, event) {
    var step = STEPS[event.status];
    if (!step) return;
    var steps = list.querySelectorAll("[data-step]");
    var last = steps.length ? steps[steps.length - 1].getAttribute("data-step") : null;
    if (last === step[0]) return;
    var item = document.createElement("li");
    item.className = "step step-" + step[0];
    item.setAttribute("data-step", step[0]);
    var name = document.createElement("span");
    name.className = "step-name";
    name.textContent = step[1];
    var when = document.createElement("time");
    var at = event.updated_at ? new Date(event.updated_at) : new Date();
    when.setAttribute("datetime", at.toISOString());
    when.textContent = at.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    item.append(name, " ", when);
    if (event.reason) {
      var reason = document.createElement("span");
      reason.className = "step-reason";
      reason.textContent = ": " + event.reason;
      item.append(reason);
    }
    list.append(item);
  }

  // The project page's history: its rows again from the server (new deployments, changed
  // outcomes), at most once per half second however many events arrive.
  var history = document.querySelector("[data-history]");
  var pending = null;
  function refreshHistory() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch(location.pathname, {credentials: "same-origin"}).then(function (answer) {
        if (!answer.ok || answer.redirected) return null;
        return answer.text();
      }).then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-history] tbody");
        var old = history.querySelector("tbody");
        if (fresh && old) old.replaceWith(document.importNode(fresh, true));
      }).catch(function () {});
    }, 500);
  }

  function onStatus(message) {
    var event = JSON.parse(message.data);
    var selector = '[data-project="' + CSS.escape(event.project) + '"]';
    document.querySelectorAll(selector).forEach(function (element) {
      // A deployment's page follows the project's status only while it is about that one.
      var only = element.getAttribute("data-only-deployment");
      if (only && only !== event.deployment_id) return;
      var badge = element.querySelector("[data-status]");
      if (badge) setBadge(badge, event.status);
      var reason = element.querySelector("[data-reason]");
      if (reason) reason.textContent = event.reason || "";
      var timeline = element.querySelector("[data-timeline]");
      if (timeline) addStep(timeline, event);
      var deployment = element.querySelector("[data-deployment]");
      if (deployment && event.deployment_id && deployment.textContent.indexOf(event.deployment_id) < 0) {
        var link = document.createElement("a");
        link.href = "/ui/projects/" + encodeURIComponent(event.project) + "/deployments/" +
          encodeURIComponent(event.deployment_id);
        link.textContent = event.deployment_id;
        deployment.replaceChildren(link);
      }
    });
    if (history && event.project === project) {
      var row = event.deployment_id &&
        history.querySelector('[data-deployment-row="' + CSS.escape(event.deployment_id) + '"] [data-row-status]');
      if (row) setBadge(row, event.status);
      refreshHistory();
    }
  }

  // The stream ends when the session does (expired, password changed, user deleted): renew
  // it from the refresh cookie and listen again, or say that this page is signed out.
  function signedOut(reason) {
    if (document.querySelector("[data-signed-out]")) return;
    var note = document.createElement("p");
    note.className = "error signed-out";
    note.setAttribute("role", "alert");
    note.setAttribute("data-signed-out", "");
    note.append("You are signed out (" + (reason || "the session ended") +
      "): statuses here are no longer live. ");
    var link = document.createElement("a");
    link.href = "/ui/sign-in?next=" + encodeURIComponent(location.pathname + location.search);
    link.textContent = "Sign in again";
    note.append(link);
    document.getElementById("main").prepend(note);
  }

  function renew(reason) {
    if (source) source.close();
    source = null;
    fetch("/ui/session", {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (answer) {
        if (answer.ok && !answer.redirected) listen();
        else signedOut(reason);
      })
      .catch(function () { signedOut(reason); });
  }

  function listen() {
    source = new EventSource(url);
    source.addEventListener("status", onStatus);
    source.addEventListener("signed-out", function (message) {
      renew(JSON.parse(message.data).reason);
    });
    source.addEventListener("error", function () {
      // A refused reconnect (401) closes the source for good; a dropped one retries itself.
      if (source && source.readyState === EventSource.CLOSED) renew("the session ended");
    });
  }

  listen();
})();
