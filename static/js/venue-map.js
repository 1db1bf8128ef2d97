/* Small map of a venue page: an enhancement, the page is complete without it.
 * Reads everything from data-* attributes of #carte-lieu (no inline script):
 *   data-points               JSON [{lat, lon, label}], the venue first, then its stops
 *   data-basemap-url          tile URL template; empty = no basemap (plain background,
 *                             nothing requested from another host, the names of the
 *                             communes and départements around instead)
 *   data-basemap-attribution  text shown for the basemap
 */
(function () {
  "use strict";

  function readPoints(element) {
    try {
      var points = JSON.parse(element.getAttribute("data-points") || "[]");
      return points.filter(function (p) {
        return typeof p.lat === "number" && typeof p.lon === "number";
      });
    } catch (error) {
      return [];
    }
  }

  function popupContent(label) {
    var span = document.createElement("span");
    span.textContent = label; // text, never HTML: names come from imported data
    return span;
  }

  function init() {
    var element = document.getElementById("carte-lieu");
    if (!element || typeof window.L === "undefined") {
      return;
    }
    var points = readPoints(element);
    if (!points.length) {
      return;
    }
    var L = window.L;
    element.classList.add("venue-map--active");
    var map = L.map(element, { scrollWheelZoom: false, zoomControl: true });
    // Without a basemap, a wider view: the names of the communes around situate the venue.
    var maxZoom = window.Passerelle.addBasemap(map, element, "venue-map--plain") ? 15 : 13;
    var latLngs = points.map(function (point) {
      L.marker([point.lat, point.lon], {
        title: point.label,
        alt: point.label,
        keyboard: true
      }).addTo(map).bindPopup(popupContent(point.label));
      return [point.lat, point.lon];
    });
    if (latLngs.length === 1) {
      map.setView(latLngs[0], maxZoom);
    } else {
      map.fitBounds(L.latLngBounds(latLngs), { padding: [24, 24], maxZoom: maxZoom });
    }
    L.control.scale({ imperial: false }).addTo(map);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
