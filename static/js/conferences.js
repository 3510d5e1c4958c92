/* Search as you type for the conference invitee picker, and the suggested
   experts refreshed as the request is filled in. Without this script the
   "Find", "Suggest experts" and "Invite" buttons send the form back and the
   page lists the matches or the suggestions. */
(function () {
  "use strict";

  // Tick a person among the picker's chosen invitees (added if not listed yet).
  function choose(picker, id, label) {
    var chosen = picker.querySelector(".chosen");
    var name = picker.querySelector("input[type=search]").name.replace(/_search$/, "");
    var box = chosen.querySelector("input[type=checkbox][value='" + String(id).replace(/\D/g, "") + "']");
    if (!box) {
      var row = document.createElement("li");
      var labelled = document.createElement("label");
      box = document.createElement("input");
      box.type = "checkbox";
      box.name = name;
      box.value = String(id);
      labelled.appendChild(box);
      labelled.appendChild(document.createTextNode(" " + label));
      row.appendChild(labelled);
      chosen.appendChild(row);
    }
    box.checked = true;
    picker.dispatchEvent(new CustomEvent("invitees-changed", { bubbles: true }));
  }

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
      if (event.target.matches("input[type=checkbox]") && event.target.checked) {
        keepTicked();
        picker.dispatchEvent(new CustomEvent("invitees-changed", { bubbles: true }));
      }
    });

    function item(result) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.textContent = result.label;
      button.setAttribute("aria-label", "+ " + result.label);
      button.addEventListener("click", function () {
        choose(picker, result.id, result.label);
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

  // Suggested experts: asked again of /conferences/experts/ when the wanted
  // ERNs or specialties, the language, a proposed time or the invitees
  // change; "Invite" ticks the person among the chosen invitees. The webinar
  // request's suggested speakers work the same way: the box names its
  // endpoint, the fields it watches and its buttons (data-url, data-watched,
  // data-suggest-name, data-invite-name), and "Add as speaker" ticks the
  // person among the chosen speakers.
  document.querySelectorAll("[data-expert-suggestions]").forEach(function (box) {
    var form = box.closest("form");
    var list = box.querySelector(".suggestions");
    var picker = form ? form.querySelector("[data-invitee-picker]") : null;
    var watchedNames = (box.dataset.watched || "").split(/\s+/).filter(Boolean);
    var suggestName = box.dataset.suggestName || "suggest_experts";
    var inviteName = box.dataset.inviteName || "invite_expert";
    var timer = null;
    var latest = 0;
    if (!form || !picker) return;

    function watched(name) {
      return watchedNames.indexOf(name) !== -1;
    }

    function query() {
      var params = new URLSearchParams();
      new FormData(form).forEach(function (value, key) {
        if (watched(key)) params.append(key, value);
      });
      return params.toString();
    }

    function row(result) {
      var li = document.createElement("li");
      var name = document.createElement("span");
      name.className = "suggestion-name";
      name.textContent = result.label;
      var why = document.createElement("span");
      why.className = "suggestion-why";
      why.textContent = result.why;
      var button = document.createElement("button");
      button.type = "submit";
      button.name = inviteName;
      button.value = String(result.id);
      button.className = "button button-secondary";
      button.dataset.label = result.label;
      button.textContent = list.dataset.inviteLabel;
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " " + result.label;
      button.appendChild(hidden);
      li.appendChild(name);
      li.appendChild(why);
      li.appendChild(button);
      return li;
    }

    function message(text) {
      var li = document.createElement("li");
      li.className = "suggestions-empty";
      li.textContent = text;
      return li;
    }

    function refresh() {
      var ticket = ++latest;
      fetch(box.dataset.url + "?" + query(), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          if (ticket !== latest) return;
          var results = data.results || [];
          list.replaceChildren.apply(list, results.length ? results.map(row) : [message(data.message || "")]);
        })
        .catch(function () { /* the Suggest button still works */ });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    }

    form.addEventListener("change", function (event) {
      if (event.target.name && watched(event.target.name)) later();
    });
    picker.addEventListener("invitees-changed", later);
    box.addEventListener("click", function (event) {
      var button = event.target.closest("button[type=submit]");
      if (!button) return;
      if (button.name === suggestName) {
        event.preventDefault();
        refresh();
      } else if (button.name === inviteName) {
        event.preventDefault();
        var li = button.closest("li");
        choose(picker, button.value, button.dataset.label || "");
        if (li) li.remove();
      }
    });
  });
})();
