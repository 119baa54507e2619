// Live status: one EventSource per page that has [data-live]; each status event updates
// the matching [data-project] element without a reload. EventSource reconnects by itself,
// sending Last-Event-ID, so the server replays what was missed.
"use strict";

(function () {
  var root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) return;
  var project = root.getAttribute("data-live");
  var url = "/api/v1/events" + (project ? "?project=" + encodeURIComponent(project) : "");
  var source = new EventSource(url);

  source.addEventListener("status", function (message) {
    var event = JSON.parse(message.data);
    var selector = '[data-project="' + CSS.escape(event.project) + '"]';
    document.querySelectorAll(selector).forEach(function (element) {
      // A deployment's page follows the project's status only while it is about that one.
      var only = element.getAttribute("data-only-deployment");
      if (only && only !== event.deployment_id) return;
      var badge = element.querySelector("[data-status]");
      if (badge) {
        badge.textContent = event.status;
        badge.className = "status status-" + event.status;
      }
      var reason = element.querySelector("[data-reason]");
      if (reason) reason.textContent = event.reason || "";
      var deployment = element.querySelector("[data-deployment]");
      if (deployment && event.deployment_id && deployment.textContent.indexOf(event.deployment_id) < 0) {
        var link = document.createElement("a");
        link.href = "/ui/projects/" + encodeURIComponent(event.project) + "/deployments/" +
          encodeURIComponent(event.deployment_id);
        link.textContent = event.deployment_id;
        deployment.replaceChildren(link);
      }
    });
  });
})();
