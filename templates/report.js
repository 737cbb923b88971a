(function () {
  "use strict";
  // Sorting, filtering and the totals of the rows shown, for the report's tables. Reads the
  // cells themselves (data-v holds the numeric key of number columns) and the components on
  // matrix rows; loads nothing and writes no markup, only text.
  var collator = new Intl.Collator("es", { numeric: true, sensitivity: "base" });

  // Numbers as the page prints them (es-PE: 1,234), whatever the browser's locale data says.
  function grouped(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  function two(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function key(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    return cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent.trim();
  }

  function sortTable(table, col, numeric, dir) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col);
      var y = key(b, col);
      if (x === "" || y === "") {
        if (x === y) return a._order - b._order;
        return x === "" ? 1 : -1; // empty values stay at the bottom either way
      }
      var r = numeric ? Number(x) - Number(y) : collator.compare(x, y);
      return dir * r || a._order - b._order;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    body.appendChild(frag);
  }

  function setUpSorting(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r, i) { r._order = i; });
    Array.prototype.forEach.call(heads, function (th, col) {
      var button = th.querySelector("button");
      if (!button) return;
      var numeric = th.getAttribute("data-type") === "num";
      button.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var dir;
        if (current === "ascending") dir = -1;
        else if (current === "descending") dir = 1;
        else dir = numeric ? -1 : 1; // numbers: largest first; text: A to Z
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
        sortTable(table, col, numeric, dir);
      });
    });
  }

  // The Total row of the rows shown. Counts add up; the latest date wins; rates divide summed
  // components (data-* on each row), rounded half up like the report (never an average of rates).
  function sum(rows, read) {
    return rows.reduce(function (acc, r) { return acc + (Number(read(r)) || 0); }, 0);
  }

  function ratioText(num, den) {
    if (!den) return "—"; // a percentage with a zero divisor is empty, as in the report
    var h = Math.floor((2 * num * 10000 + den) / (2 * den)); // hundredths of a percent
    return grouped(Math.floor(h / 100)) + "." + two(h % 100) + "%";
  }

  function timeText(seconds, pageviews, exits) {
    var div = pageviews - exits;
    var s = div > 0 ? Math.floor((2 * seconds + div) / (2 * div)) : 0;
    return two(Math.floor(s / 3600)) + ":" + two(Math.floor((s % 3600) / 60)) + ":" + two(s % 60);
  }

  function latest(rows, col) {
    var best = null;
    rows.forEach(function (r) {
      var v = r.cells[col].getAttribute("data-v") || ""; // YYYYMMDDhhmmss, "" for never
      if (v !== "" && (best === null || v > key(best, col))) best = r;
    });
    return best ? best.cells[col].textContent : "";
  }

  function updateTotals(table, shown, all) {
    Array.prototype.forEach.call(table.tFoot.rows[0].cells, function (cell, col) {
      var rule = cell.getAttribute("data-total");
      var text = null;
      if (rule === "sum") text = grouped(sum(shown, function (r) { return key(r, col); }));
      else if (rule === "max") text = latest(shown, col);
      else if (rule === "ratio") {
        var num = cell.getAttribute("data-num");
        var den = cell.getAttribute("data-den");
        text = ratioText(sum(shown, function (r) { return r.dataset[num]; }),
                         sum(shown, function (r) { return r.dataset[den]; }));
      } else if (rule === "time") {
        text = timeText(sum(shown, function (r) { return r.dataset.timeOnPage; }),
                        sum(shown, function (r) { return r.dataset.pageviews; }),
                        sum(shown, function (r) { return r.dataset.exits; }));
      } else if (rule === "label") {
        text = shown.length === all ? "Total" : "Total (" + grouped(shown.length) + " de " + grouped(all) + ")";
      }
      if (text === null) return;
      cell.textContent = text;
      cell.classList.toggle("na", text === "—");
    });
  }

  function setUpFilter(tools) {
    var id = tools.getAttribute("data-tools");
    var table = document.getElementById(id);
    if (!table) return;
    var input = tools.querySelector("[data-filter]");
    var activity = tools.querySelector("[data-activity]");
    var count = tools.querySelector("[data-count]");
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    rows.forEach(function (r) { r._text = fold(r.textContent); });

    function apply() {
      var terms = fold(input.value).split(/\s+/).filter(Boolean);
      var want = activity ? activity.value : "";
      var shown = 0;
      rows.forEach(function (r) {
        var ok = terms.every(function (t) { return r._text.indexOf(t) !== -1; });
        if (ok && want !== "") ok = r.getAttribute("data-active") === want;
        r.hidden = !ok;
        if (ok) shown += 1;
      });
      count.textContent = "Mostrando " + grouped(shown) + " de " + grouped(rows.length);
      if (table.tFoot) updateTotals(table, rows.filter(function (r) { return !r.hidden; }), rows.length);
    }

    input.addEventListener("input", apply);
    if (activity) activity.addEventListener("change", apply);
    tools.hidden = false;
    apply();
  }

  Array.prototype.forEach.call(document.querySelectorAll("table[data-sortable]"), setUpSorting);
  Array.prototype.forEach.call(document.querySelectorAll("[data-tools]"), setUpFilter);
})();
