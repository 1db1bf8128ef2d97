/* Leaflet's controls in French, for every map of the site (loaded right after leaflet.js):
 * the zoom buttons' titles are what a screen reader says and what a mouse hover shows.
 * Also window.Passerelle.addBasemap(map, element, plainClass), the basemap of the pages'
 * small maps, read from the element's data-basemap-url (tile URL template; empty = no basemap:
 * the plainClass background, nothing requested from another host) and
 * data-basemap-attribution. */
(function () {
  "use strict";
  var L = window.L;
  if (!L) { return; }
  L.Control.Zoom.mergeOptions({
    zoomInText: "<span aria-hidden=\"true\">+</span>",
    zoomInTitle: "Agrandir la carte",
    zoomOutText: "<span aria-hidden=\"true\">&#x2212;</span>",
    zoomOutTitle: "Réduire la carte"
  });
  L.Control.Attribution.mergeOptions({ prefix: false });

  window.Passerelle = window.Passerelle || {};
  window.Passerelle.addBasemap = function (map, element, plainClass) {
    var url = element.getAttribute("data-basemap-url") || "";
    if (url) {
      L.tileLayer(url, {
        attribution: element.getAttribute("data-basemap-attribution") || "",
        maxZoom: 19
      }).addTo(map);
    } else {
      element.classList.add(plainClass);
      map.attributionControl.setPrefix(false);
    }
  };
}());
