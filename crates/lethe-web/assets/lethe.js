// Lethe's own script for the live parts of its pages. Every page works without it: forms
// post and pages reload. Nothing here is needed to act on data.
"use strict";

// Times are sent in UTC (RFC 3339); show them in the reader's own time zone, keeping the
// exact value in the element's title.
function localiseTimes(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const at = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      element.title = element.getAttribute("datetime");
      element.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localiseTimes(document);
});
