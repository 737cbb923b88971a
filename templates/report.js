(function () {
  "use strict";
  // Sorting and filtering for the report's tables. Reads the cells themselves (data-v holds
  // the numeric key of number columns); loads nothing and writes no markup.
  var collator = new Intl.Collator("es", { numeric: true, sensitivity: "base" });
  var fmt = new Intl.NumberFormat("es-PE");

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
      count.textContent = "Mostrando " + fmt.format(shown) + " de " + fmt.format(rows.length);
    }

    input.addEventListener("input", apply);
    if (activity) activity.addEventListener("change", apply);
    tools.hidden = false;
    apply();
  }

  Array.prototype.forEach.call(document.querySelectorAll("table[data-sortable]"), setUpSorting);
  Array.prototype.forEach.call(document.querySelectorAll("[data-tools]"), setUpFilter);
})();
