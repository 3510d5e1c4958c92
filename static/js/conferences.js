/* Search as you type for the conference invitee picker. Without this script
   the "Find" button sends the form back and the page lists the matches. */
(function () {
  "use strict";

  document.querySelectorAll("[data-invitee-picker]").forEach(function (picker) {
    var input = picker.querySelector("input[type=search]");
    var results = picker.querySelector(".results");
    var chosen = picker.querySelector(".chosen");
    var name = input.name.replace(/_search$/, "");
    var timer = null;
    var latest = 0;

    function chosenIds() {
      return Array.prototype.map.call(chosen.querySelectorAll("input[type=checkbox]"), function (box) {
        return box.value;
      });
    }

    // Matches listed by the server after "Find" are checkboxes in the results:
    // one ticked there is chosen, so it moves to the chosen list and survives
    // the next search (which replaces the results).
    function keepTicked() {
      results.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
        var row = box.closest("li");
        if (row) chosen.appendChild(row);
      });
    }

    results.addEventListener("change", function (event) {
      if (event.target.matches("input[type=checkbox]") && event.target.checked) keepTicked();
    });

    function item(result) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.textContent = result.label;
      button.setAttribute("aria-label", "+ " + result.label);
      button.addEventListener("click", function () {
        var row = document.createElement("li");
        var label = document.createElement("label");
        var box = document.createElement("input");
        box.type = "checkbox";
        box.name = name;
        box.value = String(result.id);
        box.checked = true;
        label.appendChild(box);
        label.appendChild(document.createTextNode(" " + result.label));
        row.appendChild(label);
        chosen.appendChild(row);
        li.remove();
        input.focus();
      });
      li.appendChild(button);
      return li;
    }

    function search() {
      var query = input.value.trim();
      var ticket = ++latest;
      keepTicked();
      if (query.length < 2) {
        results.replaceChildren();
        return;
      }
      fetch(picker.dataset.searchUrl + "?q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (ticket !== latest) return;
          keepTicked();
          var taken = chosenIds();
          var items = (data.results || []).filter(function (result) {
            return taken.indexOf(String(result.id)) === -1;
          });
          results.replaceChildren.apply(results, items.map(item));
          if (!items.length) {
            var empty = document.createElement("li");
            empty.textContent = data.error || results.dataset.empty;
            results.appendChild(empty);
          }
        })
        .catch(function () { /* the Find button still works */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        search();
      }
    });
  });
})();
