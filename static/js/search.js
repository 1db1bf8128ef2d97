/* Search pages: enhancements only — the forms and results work without JavaScript.
 *  - commune suggestions for the "where" field (GET /api/v1/territories/communes), as an
 *    accessible combobox;
 *  - "Utiliser ma position" (the device's position, sent as lat/lon), and the home page's
 *    "Voir les lieux autour de moi" (the position, then the search);
 *  - the small map of the results (Leaflet, our own copy; data from a JSON script element,
 *    basemap from data-basemap-url: none when empty, nothing requested from another host,
 *    and then the names of the communes and départements around, leaflet-fr.js);
 *  - "Copier" and "Imprimer" buttons; focus on the error summary.
 * No inline script: everything is read from the page's attributes.
 */
(function () {
  "use strict";

  var SUGGEST_URL = "/api/v1/territories/communes";
  var SUGGEST_DELAY_MS = 250;
  var SUGGEST_COUNT = 8;

  function byId(id) { return document.getElementById(id); }

  // ------------------------------------------------------------------ suggestions

  function suggestionLabel(item) {
    var code = (item.postal_codes && item.postal_codes[0]) ||
      (item.departement && item.departement.code) || item.code;
    return item.name + " (" + code + ")";
  }

  // An ARIA 1.2 combobox (list autocomplete): the keyboard moves in the list (arrows,
  // Enter to choose, Escape to close), a screen reader hears the active option and the
  // number of suggestions. Without JavaScript the field is a plain text input.
  function setupSuggestions(input) {
    var listbox = byId(input.getAttribute("data-listbox"));
    var status = byId(input.getAttribute("data-status"));
    var commune = byId("commune");
    var lat = byId("lat");
    var lon = byId("lon");
    if (!listbox || !commune || !window.fetch) { return; }
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listbox.id);
    var items = [];
    var active = -1;
    var timer = null;
    var lastQuery = "";

    function setActive(index) {
      active = index;
      Array.prototype.forEach.call(listbox.children, function (option, i) {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", listbox.children[index].id);
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function close() {
      listbox.hidden = true;
      input.setAttribute("aria-expanded", "false");
      setActive(-1);
    }

    function open() {
      if (!items.length) { return; }
      listbox.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function choose(index) {
      var item = items[index];
      if (!item) { return; }
      input.value = suggestionLabel(item);
      commune.value = item.code;
      lastQuery = input.value;
      close();
      if (status) { status.textContent = "Commune choisie : " + input.value + "."; }
    }

    function fill(found) {
      items = found;
      while (listbox.firstChild) { listbox.removeChild(listbox.firstChild); }
      found.forEach(function (item, i) {
        var option = document.createElement("li");
        option.id = listbox.id + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = suggestionLabel(item); // text, never HTML
        // mousedown, not click: the field keeps the focus (no blur that closes the list)
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(i);
        });
        listbox.appendChild(option);
      });
      setActive(-1);
      if (found.length) { open(); } else { close(); }
      if (status) {
        status.textContent = found.length
          ? found.length + " commune(s) proposée(s) : flèche bas pour choisir."
          : "";
      }
    }

    function query() {
      var text = input.value.trim();
      if (text === lastQuery) { return; }
      lastQuery = text;
      var params;
      if (/^\d{5}$/.test(text)) {
        params = "postal_code=" + text;
      } else if (text.length >= 2 && !/^\d+$/.test(text)) {
        params = "q=" + encodeURIComponent(text);
      } else {
        fill([]);
        return;
      }
      fetch(SUGGEST_URL + "?" + params + "&page_size=" + SUGGEST_COUNT,
            { headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { items: [] }; })
        .then(function (body) {
          if (input.value.trim() === text) { fill(body.items || []); }
        })
        .catch(function () { /* suggestions are optional */ });
    }

    input.addEventListener("input", function () {
      // Typing replaces a position or a commune picked earlier.
      lat.value = "";
      lon.value = "";
      commune.value = "";
      window.clearTimeout(timer);
      timer = window.setTimeout(query, SUGGEST_DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        open();
        if (items.length) { setActive((active + 1) % items.length); }
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        if (items.length) { setActive(active <= 0 ? items.length - 1 : active - 1); }
      } else if (event.key === "Enter" && !listbox.hidden && active >= 0) {
        event.preventDefault(); // choose, do not send the form yet
        choose(active);
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", close);
  }

  // ------------------------------------------------------------------ geolocation

  function setupGeolocation(button) {
    var wrapper = button.parentNode;
    var status = wrapper.querySelector(".geolocate-status");
    if (!navigator.geolocation) { return; }
    wrapper.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = "Recherche de votre position…";
      navigator.geolocation.getCurrentPosition(function (position) {
        byId("lat").value = position.coords.latitude.toFixed(5);
        byId("lon").value = position.coords.longitude.toFixed(5);
        var commune = byId("commune"); // absent while « Quel Saint-Paul ? » is asked
        if (commune) { commune.value = ""; }
        var input = byId("where");
        input.value = "Ma position";
        status.textContent = "Position trouvée. Continuez, puis appuyez sur « Voir les lieux ».";
      }, function (error) {
        status.textContent = error.code === 1
          ? "Vous n'avez pas autorisé la localisation : écrivez votre code postal."
          : "Position introuvable : écrivez votre code postal.";
      }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 });
    });
  }

  // The home page's « Voir les lieux autour de moi »: the device's position, then the
  // search at once (one tap, plus the browser's own question the first time). Refused or
  // not found: said, and the finger goes to the commune field.
  function setupGeolocateSubmit(button) {
    var form = button.form;
    var wrapper = button.closest(".geolocate-go");
    var status = wrapper && wrapper.querySelector(".geolocate-status");
    if (!navigator.geolocation || !form || !wrapper) { return; }
    wrapper.hidden = false;
    button.addEventListener("click", function () {
      if (button.getAttribute("aria-disabled") === "true") { return; }
      button.setAttribute("aria-disabled", "true");
      status.textContent = "Recherche de votre position…";
      navigator.geolocation.getCurrentPosition(function (position) {
        byId("lat").value = position.coords.latitude.toFixed(5);
        byId("lon").value = position.coords.longitude.toFixed(5);
        byId("commune").value = "";
        byId("where").value = "Ma position";
        status.textContent = "Position trouvée : recherche des lieux…";
        form.submit();
      }, function (error) {
        button.removeAttribute("aria-disabled");
        status.textContent = error.code === 1
          ? "Vous n'avez pas autorisé la position : écrivez votre code postal ou votre commune."
          : "Position introuvable : écrivez votre code postal ou votre commune.";
        byId("where").focus();
      }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 });
    });
  }

  // ------------------------------------------------------------------ map

  function setupMap(element) {
    var dataElement = byId("search-map-data");
    if (!dataElement || typeof window.L === "undefined") { return; }
    var data;
    try { data = JSON.parse(dataElement.textContent); } catch (error) { return; }
    var venues = (data.venues || []).filter(function (v) {
      return typeof v.lat === "number" && typeof v.lon === "number";
    });
    if (!venues.length) { return; }
    var L = window.L;
    element.hidden = false;
    document.querySelectorAll("[data-map-legend]").forEach(function (legend) {
      legend.hidden = false;
    });
    var map = L.map(element, { scrollWheelZoom: false });
    // Without a basemap the map names the communes around (a closer view would show
    // none): it stops at zoom 13.
    var maxZoom = window.Passerelle.addBasemap(map, element, "result-map--plain") ? 15 : 13;
    var bounds = [];
    if (data.place && typeof data.place.lat === "number") {
      L.circleMarker([data.place.lat, data.place.lon], {
        radius: 9, color: "#1b1b1b", weight: 3, fillColor: "#ffbf47", fillOpacity: 1,
        interactive: false
      }).addTo(map);
      bounds.push([data.place.lat, data.place.lon]);
    }
    venues.forEach(function (venue) {
      var label = venue.rank + ". " + venue.nom + " (" + venue.distance + ")";
      var icon = L.divIcon({
        className: "search-marker",
        html: "<span aria-hidden=\"true\">" + String(Number(venue.rank)) + "</span>",
        iconSize: [32, 32],
        iconAnchor: [16, 16]
      });
      var marker = L.marker([venue.lat, venue.lon], { icon: icon, title: label, alt: label });
      var popup = document.createElement("span");
      popup.textContent = label; // text, never HTML: names come from imported data
      marker.bindPopup(popup).addTo(map);
      bounds.push([venue.lat, venue.lon]);
    });
    if (bounds.length === 1) {
      map.setView(bounds[0], Math.min(14, maxZoom));
    } else {
      map.fitBounds(bounds, { padding: [24, 24], maxZoom: maxZoom });
    }
  }

  // ------------------------------------------------------------------ copy, print

  function setupCopy(button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    var status = document.querySelector(".copy-status");
    if (!source) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.value || source.textContent;
      function done() { if (status) { status.textContent = "Résumé copié : collez-le où vous voulez."; } }
      function fallback() {
        source.focus();
        source.select();
        try { document.execCommand("copy"); done(); } catch (error) {
          if (status) { status.textContent = "Sélectionnez le résumé et copiez-le (Ctrl+C)."; }
        }
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, fallback);
      } else {
        fallback();
      }
    });
  }

  function setupPrint(button) {
    button.hidden = false;
    document.querySelectorAll("[data-print-hint]").forEach(function (hint) { hint.hidden = true; });
    button.addEventListener("click", function () { window.print(); });
  }

  function init() {
    document.querySelectorAll("[data-commune-suggest]").forEach(setupSuggestions);
    document.querySelectorAll("[data-geolocate]").forEach(setupGeolocation);
    document.querySelectorAll("[data-geolocate-submit]").forEach(setupGeolocateSubmit);
    var map = byId("search-map");
    if (map) { setupMap(map); }
    document.querySelectorAll("[data-copy]").forEach(setupCopy);
    document.querySelectorAll("[data-print]").forEach(setupPrint);
    var summary = document.querySelector("[data-error-summary]");
    if (summary) { summary.focus(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
