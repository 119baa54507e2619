// The projects page's search narrows the table as you type. Only a convenience: the form
// still submits (Enter or the Filter button) and the server filters, so links stay shareable.
"use strict";

(function () {
  var search = document.getElementById("q");
  var count = document.querySelector("[data-count]");
  if (!search || !count) return;
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-name]"));
  var total = count.getAttribute("data-total");
  search.addEventListener("input", function () {
    var text = search.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var match = row.getAttribute("data-name").toLowerCase().indexOf(text) >= 0;
      row.hidden = !match;
      if (match) shown += 1;
    });
    count.textContent = shown + " of " + total + " projects";
  });
})();
