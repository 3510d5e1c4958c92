/* Enhancements of the registration and profile forms. The forms work without
   this script; it only narrows the hospital list to the chosen country, adds
   a search box, shows the "not listed" fields when needed and guesses the
   time zone from the browser. */
(function () {
  "use strict";

  var country = document.querySelector("[data-country-select]");
  var hospital = document.querySelector("[data-hospital-select]");
  var zone = document.querySelector("[data-time-zone-select]");

  function countryName() {
    if (!country || !country.value) return null;
    return country.options[country.selectedIndex].text;
  }

  function filterHospitals(query) {
    if (!hospital) return;
    var name = countryName();
    var needle = (query || "").trim().toLocaleLowerCase();
    var groups = hospital.querySelectorAll("optgroup");
    groups.forEach(function (group) {
      var inCountry = !name || group.label === name;
      group.hidden = !inCountry;
      group.disabled = !inCountry;
      group.querySelectorAll("option").forEach(function (option) {
        var match = !needle || option.text.toLocaleLowerCase().indexOf(needle) !== -1;
        option.hidden = !match;
      });
    });
    var selected = hospital.options[hospital.selectedIndex];
    if (selected && selected.parentElement && selected.parentElement.disabled) {
      hospital.value = "";
    }
  }

  if (hospital) {
    var search = document.createElement("input");
    search.type = "search";
    search.id = hospital.id + "_search";
    search.className = "hospital-search";
    search.setAttribute("aria-controls", hospital.id);
    var label = document.createElement("label");
    label.htmlFor = search.id;
    label.className = "search-label";
    label.textContent = hospital.dataset.searchLabel || "Search the list";
    hospital.parentNode.insertBefore(label, hospital);
    hospital.parentNode.insertBefore(search, hospital);
    search.addEventListener("input", function () { filterHospitals(search.value); });
    filterHospitals("");
  }

  if (country) {
    country.addEventListener("change", function () {
      filterHospitals("");
    });
  }

  document.querySelectorAll("[data-shown-by]").forEach(function (section) {
    var toggle = document.getElementById(section.dataset.shownBy);
    if (!toggle) return;
    function sync() { section.hidden = !toggle.checked; }
    toggle.addEventListener("change", sync);
    sync();
  });

  if (zone && zone.value === "") {
    try {
      var guess = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (guess && zone.querySelector('option[value="' + guess.replace(/"/g, "") + '"]')) {
        zone.value = guess;
      }
    } catch (e) { /* an old browser: the server uses the country's zone */ }
  }
})();
