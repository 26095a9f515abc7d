// The debate guests of a screening's form, picked with a search: shows the search box
// (hidden without JavaScript, when the whole list is there to tick), keeps the ticked
// guests visible and first, shows the others whose name, role or organisation holds
// what is typed (accents and case ignored). Enter ticks the first guest shown instead
// of sending the form. No inline script: the page's CSP allows scripts from 'self' only.
(function () {
  "use strict";

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }

  function enhance(row) {
    var fieldset = row.closest("fieldset");
    var input = row.querySelector("input[type=search]");
    var list = fieldset.querySelector("[data-guest-list]");
    var none = fieldset.querySelector("[data-guest-none]");
    var items = Array.prototype.slice.call(list.querySelectorAll("[data-guest-search-text]"));

    function box(item) { return item.querySelector("input[type=checkbox]"); }

    function visible() {
      return items.filter(function (item) { return !item.hidden; });
    }

    function filter() {
      var query = fold(input.value);
      var shown = 0;
      items.forEach(function (item) {
        var match = box(item).checked || query === "" ||
          fold(item.getAttribute("data-guest-search-text")).indexOf(query) !== -1;
        item.hidden = !match;
        if (match && !box(item).checked) { shown += 1; }
      });
      none.hidden = query === "" || shown > 0;
    }

    function chosenFirst() {
      var chosen = items.filter(function (item) { return box(item).checked; });
      var others = items.filter(function (item) { return !box(item).checked; });
      chosen.concat(others).forEach(function (item) { list.appendChild(item); });
    }

    input.addEventListener("input", filter);
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();  // Enter here picks a guest; it does not send the form
      var first = visible().filter(function (item) { return !box(item).checked; })[0];
      if (first && input.value.trim() !== "") {
        box(first).checked = true;
        input.value = "";
        chosenFirst();
        filter();
      }
    });
    list.addEventListener("change", function () { chosenFirst(); filter(); });
    row.hidden = false;
    filter();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-guest-search]"), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
