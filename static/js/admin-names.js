/* Accessible names for the admin's form controls that Django renders without one.
 *
 * Django's templates name a split date-time field once, for the pair of boxes; a tabular
 * inline names its columns in the table header only; SelectFilter2.js puts aria-label on a
 * bare <span>, which no role permits. Screen readers then announce "edit text, blank". The
 * accessibility browser test (axe-core) finds each of these. Rather than copying Django's
 * templates to change a line, the names are filled in here: on load, and again whenever the
 * admin adds to the page (a new inline row, the filter boxes of a many-to-many field).
 */
(function () {
  "use strict";

  function text(el) {
    return (el ? el.textContent : "").replace(/[:?*\s]+$/, "").replace(/\s+/g, " ").trim();
  }

  function name(control, label) {
    if (label && !control.labels.length && !control.hasAttribute("aria-label")) {
      control.setAttribute("aria-label", label);
    }
  }

  function fill(root) {
    // Split date-time fields: "Started at, date" and "Started at, time".
    root.querySelectorAll("p.datetime").forEach(function (pair) {
      var row = pair.closest(".form-row, td");
      var label = row && row.tagName === "TD" ? columnHeader(row) : text(row && row.querySelector("label"));
      var boxes = pair.querySelectorAll("input");
      if (boxes[0]) name(boxes[0], label + ", date");
      if (boxes[1]) name(boxes[1], label + ", time");
    });
    // Tabular inlines: each control takes its column's header, and its row's number.
    root.querySelectorAll(".tabular tbody tr.form-row").forEach(function (row, index) {
      row.querySelectorAll("td").forEach(function (cell) {
        var header = columnHeader(cell);
        cell.querySelectorAll("input:not([type=hidden]), select, textarea").forEach(function (control) {
          name(control, header + ", row " + (index + 1));
        });
      });
    });
    // The first column of a tabular inline shows each saved row's name; say so.
    root.querySelectorAll(".tabular thead th.original:empty").forEach(function (th) {
      th.innerHTML = '<span class="visually-hidden">Saved row</span>';
    });
    // SelectFilter2's search icon: an image, named by its aria-label.
    root.querySelectorAll("span.help-tooltip[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
  }

  function columnHeader(cell) {
    var table = cell.closest("table");
    var headers = table ? table.querySelectorAll("thead th") : [];
    var header = headers[cell.cellIndex];
    return header ? text(header) : "";
  }

  function start() {
    fill(document);
    new MutationObserver(function () { fill(document); }).observe(document.body, {
      childList: true,
      subtree: true,
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
