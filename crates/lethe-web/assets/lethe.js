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

// The records page: the count of matches as the filter is typed, and ticking rows — one by
// one, the whole page, then "all N matching" minus the rows ticked off again.
function recordsPage() {
  const box = document.getElementById("filter");
  const status = document.getElementById("filter-status");
  const bulk = document.getElementById("bulk");
  if (!box || !status) {
    return;
  }
  let matching = null;
  let asked = 0;
  const showCount = async () => {
    const mine = ++asked;
    const url = box.dataset.countUrl + "?" + new URLSearchParams({ filter: box.value });
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      const answer = await response.json();
      if (mine !== asked) {
        return; // a later keystroke asked again
      }
      if ("count" in answer) {
        matching = answer.count;
        status.className = "match-count";
        status.textContent = matching.toLocaleString() + " matching";
        box.removeAttribute("aria-invalid");
      } else {
        status.className = "field-error";
        status.textContent = answer.problem;
        box.setAttribute("aria-invalid", "true");
      }
      if (bulk) {
        updateTicks();
      }
    } catch (error) {
      status.textContent = "The count could not be fetched.";
    }
  };
  let timer = null;
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(showCount, 250);
  });
  // Enter applies the filter; Shift+Enter writes a new line.
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });

  if (!bulk) {
    showCount();
    return;
  }
  const rows = Array.from(document.querySelectorAll(".tick-row"));
  const page = document.getElementById("tick-page");
  const allMatching = document.getElementById("all-matching");
  const except = document.getElementById("except");
  const banner = document.getElementById("select-all-banner");
  const bannerText = document.getElementById("select-all-text");
  const bannerButton = document.getElementById("select-all-matching");
  const ticked = document.getElementById("ticked-count");
  const exceptions = new Set();

  function updateTicks() {
    const on = rows.filter((row) => row.checked).length;
    page.checked = rows.length > 0 && on === rows.length;
    page.indeterminate = on > 0 && on < rows.length;
    const all = allMatching.value === "1";
    except.value = Array.from(exceptions).join(",");
    if (all) {
      const count = matching === null ? "all" : (matching - exceptions.size).toLocaleString();
      ticked.textContent = "All matching ticked" + (exceptions.size ? ", minus " + exceptions.size + " ticked off" : "") + ": " + count + " records.";
      bannerText.textContent = "All " + (matching === null ? "" : matching.toLocaleString() + " ") + "matching are selected" + (exceptions.size ? ", except " + exceptions.size + "." : ".");
      bannerButton.textContent = "Clear the selection";
      banner.hidden = false;
    } else {
      ticked.textContent = on === 0 ? "No rows ticked." : on + " ticked.";
      if (on === rows.length && rows.length > 0 && matching !== null && matching > rows.length) {
        bannerText.textContent = "All " + rows.length + " on this page are selected.";
        bannerButton.textContent = "Select all " + matching.toLocaleString() + " matching";
        banner.hidden = false;
      } else {
        banner.hidden = true;
      }
    }
  }
  page.addEventListener("change", () => {
    for (const row of rows) {
      row.checked = page.checked;
      if (page.checked) {
        exceptions.delete(row.value);
      } else if (allMatching.value === "1") {
        exceptions.add(row.value);
      }
    }
    updateTicks();
  });
  for (const row of rows) {
    row.addEventListener("change", () => {
      if (allMatching.value === "1") {
        if (row.checked) {
          exceptions.delete(row.value);
        } else {
          exceptions.add(row.value);
        }
      }
      updateTicks();
    });
  }
  bannerButton.addEventListener("click", () => {
    if (allMatching.value === "1") {
      allMatching.value = "0";
      exceptions.clear();
      for (const row of rows) {
        row.checked = false;
      }
    } else {
      allMatching.value = "1";
      exceptions.clear();
    }
    updateTicks();
    bannerButton.focus();
  });
  bulk.addEventListener("submit", (event) => {
    if (allMatching.value !== "1" && !rows.some((row) => row.checked)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      ticked.textContent = "Tick at least one row first.";
    }
  });
  showCount();
}

document.addEventListener("DOMContentLoaded", () => {
  localiseTimes(document);
  recordsPage();
});

// A job's page: move the progress bar until the job ends, then reload for the final counts.
function jobPage() {
  const box = document.querySelector(".progress-box[data-status-url]");
  if (!box || box.dataset.finished === "true") {
    return;
  }
  const bar = document.getElementById("job-progress");
  const text = document.getElementById("job-text");
  const pace = document.getElementById("job-pace");
  const state = document.getElementById("job-state");
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" } });
      const progress = await response.json();
      bar.max = Math.max(progress.total, 1);
      bar.value = progress.done;
      text.textContent = progress.text;
      pace.textContent = progress.pace;
      state.textContent = progress.state;
      if (progress.finished) {
        window.location.reload();
        return;
      }
    } catch (error) {
      pace.textContent = "Progress could not be fetched; retrying.";
    }
    setTimeout(poll, 1000);
  };
  setTimeout(poll, 500);
}
document.addEventListener("DOMContentLoaded", jobPage);

// The recycle bin and the permanent deletion console: a pending purge's time left counts
// down once a second (the page prints it as it was when sent, for a reader without script).
function countdowns() {
  const clocks = Array.from(document.querySelectorAll(".countdown[data-runs-at]"));
  if (clocks.length === 0) {
    return;
  }
  const words = (seconds) => {
    if (seconds <= 0) {
      return "due now";
    }
    const unit = (count, name) => count + " " + name + (count === 1 ? "" : "s");
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = Math.floor(seconds % 60);
    if (days > 0) {
      return unit(days, "day") + " " + unit(hours, "hour") + " " + unit(minutes, "minute");
    }
    if (hours > 0) {
      return unit(hours, "hour") + " " + unit(minutes, "minute") + " " + unit(rest, "second");
    }
    return unit(minutes, "minute") + " " + unit(rest, "second");
  };
  const tick = () => {
    for (const clock of clocks) {
      const at = Date.parse(clock.dataset.runsAt);
      if (!Number.isNaN(at)) {
        clock.textContent = words(Math.round((at - Date.now()) / 1000));
      }
    }
  };
  tick();
  setInterval(tick, 1000);
}
document.addEventListener("DOMContentLoaded", countdowns);

// The purge confirmation: the button says when the records will be erased for the grace
// period typed (the form works the same without it).
function purgeButton() {
  const button = document.getElementById("purge-button");
  const grace = document.getElementById("grace_days");
  if (!button || !grace) {
    return;
  }
  const say = () => {
    const raw = grace.value.trim();
    const days = Number(raw);
    let when;
    if (raw === "") {
      when = "after " + button.dataset.default;
    } else if (!Number.isInteger(days) || days < 0) {
      return;
    } else if (days === 0) {
      when = "now";
    } else {
      when = "after " + days + (days === 1 ? " day" : " days");
    }
    button.textContent = "Erase " + button.dataset.what + " for good " + when;
  };
  grace.addEventListener("input", say);
}
document.addEventListener("DOMContentLoaded", purgeButton);

// A form or link marked data-busy starts work that can take long (a preview of a large
// selection): once it is on its way, say so where a screen reader hears it, and keep the
// button from being pressed twice.
function busyNotices() {
  const notice = document.getElementById("busy");
  if (!notice) return;
  const show = (element) => {
    notice.textContent = element.dataset.busy;
    notice.hidden = false;
    document.body.setAttribute("aria-busy", "true");
  };
  document.querySelectorAll("form[data-busy]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (event.defaultPrevented) return;
      show(form);
      form.querySelectorAll("button[type=submit]").forEach((button) => {
        // Disabled after the browser has taken the button's own name and value.
        setTimeout(() => { button.disabled = true; }, 0);
      });
    });
  });
  document.querySelectorAll("a[data-busy]").forEach((link) => {
    link.addEventListener("click", () => show(link));
  });
}
document.addEventListener("DOMContentLoaded", busyNotices);
