/* Leaflet's controls in French, for every map of the site (loaded right after leaflet.js):
 * the zoom buttons' titles are what a screen reader says and what a mouse hover shows. */
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
}());
