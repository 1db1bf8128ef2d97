/* Shared by every map of the site (loaded right after leaflet.js):
 *  - Leaflet's controls in French: the zoom buttons' titles are what a screen reader says
 *    and what a mouse hover shows;
 *  - window.Passerelle.placeLabels(map, layer, candidates): names written where they fit
 *    inside their territory, largest territory first, never over a name already placed
 *    (the planner's map names its territories with it);
 *  - window.Passerelle.addTerritoryNames(map): commune and département names from our own
 *    geography (GET /api/v1/territories/labels), redrawn as the view moves;
 *  - window.Passerelle.addBasemap(map, element, plainClass), the basemap of the pages' small
 *    maps, read from the element's data-basemap-url (tile URL template) and
 *    data-basemap-attribution. Without a basemap (empty URL: the plainClass background,
 *    nothing requested from another host) or when its tiles cannot be fetched, the map
 *    shows the names of the communes and départements instead. */
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

  var LABELS_URL = "/api/v1/territories/labels";
  var CHAR_WIDTH = 6.8;   // px per character of a 12 px name (the .territory-label font)
  var LABEL_HEIGHT = 16;

  function labelsPane(map) {
    if (!map.getPane("labels")) {
      var pane = map.createPane("labels");
      pane.style.zIndex = 460;
      pane.style.pointerEvents = "none";
    }
    return "labels";
  }

  /* candidates: [{name, bounds (L.LatLngBounds), centre (L.LatLng, or a function giving
   * it, called only for the names that fit), className, charWidth}] */
  window.Passerelle.placeLabels = function (map, layer, candidates) {
    layer.clearLayers();
    var size = map.getSize();
    var pane = labelsPane(map);
    var sized = [];
    candidates.forEach(function (c) {
      if (!c.bounds || !c.bounds.isValid()) { return; }
      var nw = map.latLngToContainerPoint(c.bounds.getNorthWest());
      var se = map.latLngToContainerPoint(c.bounds.getSouthEast());
      sized.push({ c: c, w: se.x - nw.x, h: se.y - nw.y });
    });
    sized.sort(function (a, b) { return b.w * b.h - a.w * a.h; });
    var placed = [];
    sized.forEach(function (s) {
      var name = s.c.name || "";
      var width = name.length * (s.c.charWidth || CHAR_WIDTH) + 6;
      var height = LABEL_HEIGHT;
      if (!name || width > s.w * 0.9 || height > s.h * 0.5) { return; }
      var centre = typeof s.c.centre === "function" ? s.c.centre() : s.c.centre;
      if (!centre) { return; }
      var at = map.latLngToContainerPoint(centre);
      var box = [at.x - width / 2, at.y - height / 2, at.x + width / 2, at.y + height / 2];
      if (box[2] < 0 || box[0] > size.x || box[3] < 0 || box[1] > size.y) { return; }
      var overlaps = placed.some(function (o) {
        return !(box[2] < o[0] || box[0] > o[2] || box[3] < o[1] || box[1] > o[3]);
      });
      if (overlaps) { return; }
      placed.push(box);
      var text = document.createElement("span");
      text.textContent = name; // text, never HTML
      L.marker(centre, { pane: pane, interactive: false, keyboard: false,
        icon: L.divIcon({ className: s.c.className || "territory-label", html: text,
                          iconSize: [0, 0] })
      }).addTo(layer);
    });
  };

  function clamp(value, low, high) { return Math.max(low, Math.min(high, value)); }

  function candidate(item, className, charWidth) {
    var b = item.bbox;
    return { name: item.name, className: className, charWidth: charWidth,
             bounds: L.latLngBounds([b[1], b[0]], [b[3], b[2]]),
             centre: L.latLng(item.point[1], item.point[0]) };
  }

  window.Passerelle.addTerritoryNames = function (map) {
    if (map.passerelleNames) { return; }
    var layer = L.layerGroup().addTo(map);
    map.passerelleNames = layer;
    map.getContainer().classList.add("map--named");
    var data = null;
    var lastBbox = null;

    function draw() {
      if (!data) { return; }
      var candidates = [];
      (data.departements || []).forEach(function (d) {
        candidates.push(candidate(d, "territory-label territory-label--departement", 10));
      });
      (data.communes || []).forEach(function (c) {
        candidates.push(candidate(c, "territory-label", CHAR_WIDTH));
      });
      window.Passerelle.placeLabels(map, layer, candidates);
    }

    function load() {
      var b = map.getBounds().pad(0.25);
      var west = clamp(b.getWest(), -180, 179.9);
      var south = clamp(b.getSouth(), -90, 89.9);
      var bbox = [west, south, clamp(b.getEast(), west + 0.001, 180),
                  clamp(b.getNorth(), south + 0.001, 90)]
        .map(function (v) { return v.toFixed(3); }).join(",");
      if (bbox === lastBbox) { draw(); return; }
      lastBbox = bbox;
      if (!window.fetch) { return; }
      fetch(LABELS_URL + "?bbox=" + bbox, { headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) {
          if (body && bbox === lastBbox) { data = body; draw(); }
        })
        .catch(function () { /* names are a help, not a need */ });
    }

    map.on("moveend", load);
    map.whenReady(load);
  };

  window.Passerelle.addBasemap = function (map, element, plainClass) {
    var url = element.getAttribute("data-basemap-url") || "";
    if (url) {
      var tiles = L.tileLayer(url, {
        attribution: element.getAttribute("data-basemap-attribution") || "",
        maxZoom: 19
      }).addTo(map);
      // Unreachable (offline, blocked): our own names instead of a blank map.
      tiles.once("tileerror", function () {
        element.classList.add(plainClass);
        window.Passerelle.addTerritoryNames(map);
      });
    } else {
      element.classList.add(plainClass);
      map.attributionControl.setPrefix(false);
      window.Passerelle.addTerritoryNames(map);
    }
    return Boolean(url);
  };
}());
