/* The group's map on /orienter/groupe: an enhancement, the table and its form are complete
 * without it. Reads everything from data-* attributes of #carte-groupe (no inline script):
 *   data-people   JSON [{i, key, venue, lat, lon}]: the row index in the table, the
 *                 pseudonymous key, the assigned venue, an approximate place (≈ 1 km)
 *   data-venues   JSON [{id, nom, commune, lat, lon, count}]
 *   data-basemap-url, data-basemap-attribution   as on the other maps (empty = no basemap)
 * Each person is a dot linked by a line to their venue; each venue shows how many people it
 * receives. Changing a person's venue in the table (select p-<i>-lieu), or leaving a person
 * out (checkbox p-<i>-garder), moves the line and the counts on the map and in the list. */
(function () {
  "use strict";

  function readJson(element, name) {
    try {
      var value = JSON.parse(element.getAttribute(name) || "[]");
      return Array.isArray(value) ? value : [];
    } catch (error) {
      return [];
    }
  }

  function byId(id) { return document.getElementById(id); }

  function countLabel(venue, count) {
    return venue.nom + ", " + venue.commune + " : " + count + " personne(s)";
  }

  function init() {
    var element = byId("carte-groupe");
    if (!element || typeof window.L === "undefined") { return; }
    var L = window.L;
    var people = readJson(element, "data-people").filter(function (p) {
      return typeof p.lat === "number" && typeof p.lon === "number";
    });
    var venues = {};
    readJson(element, "data-venues").forEach(function (v) { venues[v.id] = v; });
    if (!people.length || !Object.keys(venues).length) { return; }

    element.classList.add("group-map--active");
    var map = L.map(element, { scrollWheelZoom: false, zoomControl: true });
    window.Passerelle.addBasemap(map, element, "group-map--plain");
    // The view first: Leaflet draws a layer's element only once the map has one.
    var bounds = people.map(function (p) { return [p.lat, p.lon]; });
    Object.keys(venues).forEach(function (id) { bounds.push([venues[id].lat, venues[id].lon]); });
    map.fitBounds(L.latLngBounds(bounds), { padding: [24, 24], maxZoom: 14 });
    var lines = L.layerGroup().addTo(map);
    var venueMarkers = {};

    Object.keys(venues).forEach(function (id) {
      var v = venues[id];
      var marker = L.marker([v.lat, v.lon], {
        keyboard: true, title: countLabel(v, v.count),
        icon: L.divIcon({ className: "group-venue", html: "", iconSize: [30, 30] })
      }).addTo(map);
      venueMarkers[id] = marker;
    });

    var state = {};  // row index -> {person, venue, kept, dot, line}
    people.forEach(function (p) {
      var dot = L.circleMarker([p.lat, p.lon], {
        radius: 5, className: "group-person", color: "#1d4e89", weight: 1.5,
        fillColor: "#4f8fd6", fillOpacity: 0.9
      }).bindTooltip(p.key, { direction: "top" }).addTo(map);
      state[p.i] = { person: p, venue: String(p.venue), kept: true, dot: dot, line: null };
    });

    function draw(row) {
      var s = state[row];
      if (s.line) { lines.removeLayer(s.line); s.line = null; }
      var v = venues[s.venue];
      s.dot.setStyle({ fillOpacity: s.kept ? 0.9 : 0.2, opacity: s.kept ? 1 : 0.4 });
      if (!v || !s.kept) { return; }
      s.line = L.polyline([[s.person.lat, s.person.lon], [v.lat, v.lon]], {
        className: "group-link", color: "#1d4e89", weight: 2, opacity: 0.7,
        interactive: false
      }).addTo(lines);
      s.line.getElement().setAttribute("data-person", String(row));
      s.line.getElement().setAttribute("data-venue", s.venue);
    }

    function recount() {
      var counts = {};
      Object.keys(venues).forEach(function (id) { counts[id] = 0; });
      Object.keys(state).forEach(function (row) {
        if (state[row].kept && counts[state[row].venue] !== undefined) {
          counts[state[row].venue] += 1;
        }
      });
      Object.keys(venues).forEach(function (id) {
        var icon = venueMarkers[id].getElement();
        icon.textContent = String(counts[id]);
        icon.setAttribute("title", countLabel(venues[id], counts[id]));
        icon.setAttribute("aria-label", countLabel(venues[id], counts[id]));
        icon.setAttribute("data-venue", id);
        icon.classList.toggle("group-venue--empty", counts[id] === 0);
        var item = document.querySelector('#groupe-lieux li[data-venue="' + id + '"] .group-count');
        if (item) { item.textContent = String(counts[id]); }
      });
    }

    Object.keys(state).forEach(function (row) {
      draw(row);
      var select = byId("p-" + row + "-lieu");
      var keep = byId("p-" + row + "-garder");
      var seance = byId("p-" + row + "-seance");
      if (select) {
        select.addEventListener("change", function () {
          state[row].venue = select.value;
          // The proposed session belongs to the assigned venue only.
          if (seance) {
            var moved = select.value !== select.getAttribute("data-assigned");
            if (moved) { seance.value = ""; }
            seance.disabled = moved;
          }
          draw(row);
          recount();
        });
      }
      if (keep) {
        keep.addEventListener("change", function () {
          state[row].kept = keep.checked;
          draw(row);
          recount();
        });
      }
    });
    recount();
    L.control.scale({ imperial: false }).addTo(map);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
