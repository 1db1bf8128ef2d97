/* The planner's coverage map (/carte). No data is in the page: everything is fetched from
 * the API as the view moves, at a level suited to the zoom (never all communes at once):
 *   zoom <= 4 régions, 5-6 départements, 7-8 EPCI and >= 9 communes (from zoom 8 when the
 *   user asks for communes), each view in one request: the map API's view of the box of
 *   the screen widened to whole 256-pixel cells (viewBoxes), polygons simplified for the
 *   zoom, so a small move keeps the URL and every URL is shared (and cached) by every
 *   user. At zoom 8 a 1400-pixel-wide view holds ≈ 4 800 communes, at 9 ≈ 1 200.
 * Configuration comes from data-* attributes of #carte-couverture (no inline script):
 *   data-options   Leaflet map options (coverage/views.py, map_settings)
 *   data-basemap   {"url", "options"} of the configured basemap, or empty: plain background
 *   data-*-url     API endpoints (runs, coverage, suggestions, venues, programmes, venue page)
 * Names and figures are inserted as text, never as HTML.
 */
(function () {
  "use strict";

  // ColorBrewer YlOrRd, 5 classes: sequential and colour-blind safe. Index 4 = least served.
  var PALETTE = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"];
  var MISSING = "#d9d9d9";
  var LEVEL_PREFIX = { region: "reg:", departement: "dep:", epci: "epci:", commune: "com:" };
  var LEVEL_NAMES = { region: "Région", departement: "Département", epci: "Intercommunalité",
    commune: "Commune" };
  // "N … affiché(e)s" in the status line.
  var LEVEL_SHOWN = {
    region: ["région affichée", "régions affichées"],
    departement: ["département affiché", "départements affichés"],
    epci: ["intercommunalité affichée", "intercommunalités affichées"],
    commune: ["commune affichée", "communes affichées"]
  };
  var LEVEL_LOADING = { region: "régions", departement: "départements",
    epci: "intercommunalités", commune: "communes" };
  var COMMUNE_MIN_ZOOM = 8;       // communes on request
  var COMMUNE_AUTO_ZOOM = 9;      // communes by default
  var VENUE_MIN_ZOOM = 9;         // a venue weighs ≈ 2 KB in the venues API's GeoJSON
  var VENUE_PAGE_SIZE = 500;
  var VENUE_MAX_PAGES = 2;
  var MAX_FOCUSABLE = 400;   // territories reachable with Tab (the exports carry the rest)
  var CIRCLE_MAX_PX = 28;
  // The referrals layer: the stats API knows communes, départements and régions.
  var DEMAND_LEVEL = { region: "region", departement: "departement", epci: "departement",
    commune: "commune" };
  var DEMAND_LEVEL_NAMES = { region: "région", departement: "département", commune: "commune" };
  // EPCI and communes come by view: one request (the browser's time to see a view is
  // that of its slowest request; each has a fixed cost on the server), its box widened to
  // whole cells of 128 pixels (with cells of 256, a zoom-9 view of the map weighed
  // 287 KB gzipped at the median instead of 216, and often took two bands). Communes at
  // zoom 8 and 9 come in bands of at most 4 and 8 cells (512 and 1024 pixels wide), each
  // within the API's 5 000 communes (a dense view at zoom 9 went past it in one request:
  // bench/map_payload.py); the bands are as even as whole cells allow.
  var VIEW_CELL = 128;
  var BAND_CELLS = { commune: { 8: 4, 9: 8 } };
  var FREE_ZOOM_SNAP = 0.25;      // without a basemap (see buildMap)
  var DEFAULT_MEASURE = "uncovered20";
  // The ranked list: one level below the study territory, fetched at a zoom fit for it.
  var RANK_LEVEL = { fr: "departement", reg: "epci", dep: "epci", epci: "commune",
    com: "commune" };
  // Coarse shapes: the list needs the figures and an extent to zoom to, not the outline.
  var RANK_ZOOM = { departement: 4, epci: 5, commune: 7 };
  var RANK_SHOWN = 10;
  var LABEL_MAX = 300;            // no names when more territories are drawn
  var RANK_TITLES = { departement: "Les départements les moins bien desservis",
    epci: "Les intercommunalités les moins bien desservies",
    commune: "Les communes les moins bien desservies" };
  // The methods of a run in words (never their internal ids).
  var METHOD_WORDS = {
    "2sfca": "bassins flottants à deux étapes (2SFCA, 20 km)",
    e2sfca_step: "bassins flottants par paliers de 10, 20 et 30 km (E2SFCA)",
    e2sfca_gauss: "bassins flottants à décroissance gaussienne (E2SFCA, 30 km)",
    "3sfca": "bassins flottants à trois étapes (3SFCA, 30 km)"
  };

  var numberFormat = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 0 });
  var decimalFormat = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 2 });
  var oneDecimal = new Intl.NumberFormat("fr-FR", { maximumFractionDigits: 1 });

  function fmtNumber(v) { return v === null || v === undefined ? "—" : numberFormat.format(v); }
  function fmtDecimal(v) { return v === null || v === undefined ? "—" : decimalFormat.format(v); }
  function fmtShare(v) {
    if (v === null || v === undefined) { return "—"; }
    // 99,96 % is not "100 %": floor to one decimal unless complete.
    var pct = v >= 1 ? 100 : Math.floor(v * 1000) / 10;
    return oneDecimal.format(pct) + " %";
  }
  function fmtKm(v) { return v === null || v === undefined ? "—" : oneDecimal.format(v) + " km"; }
  function fmtSmall(v) {
    if (v === null || v === undefined) { return "—"; }
    return Math.abs(v) >= 10 ? numberFormat.format(v) : oneDecimal.format(v);
  }

  // ------------------------------------------------------------------ measures and classes

  var CLASS_COUNT = 5;
  var QUANTILE_NOTE = "Classes : quantiles des territoires affichés (à peu près autant de " +
    "territoires dans chaque classe).";

  /* Class breaks from the data: up to ``n`` quantile classes of the values that are not
   * ``ideal`` (a value meaning "nobody left out", given a class of its own), best first,
   * the last class the least served. ``worseHigh``: a higher value is worse. */
  function quantileClasses(values, options) {
    var ideal = options.ideal;
    var fmt = options.format;
    var classes = [];
    var rest = values.filter(function (v) {
      return isFinite(v) && (ideal === undefined || v !== ideal);
    }).sort(function (a, b) { return a - b; });
    if (ideal !== undefined && values.some(function (v) { return v === ideal; })) {
      classes.push({ label: options.idealLabel, test: function (v) { return v === ideal; } });
    }
    if (!rest.length) { return classes.length ? classes : [{ label: "—", test: function () { return true; } }]; }
    var wanted = CLASS_COUNT - classes.length;
    var breaks = [];
    for (var i = 1; i < wanted; i += 1) {
      var b = rest[Math.min(rest.length - 1, Math.floor(i * rest.length / wanted))];
      // An upper bound (v <= b) never the largest value, a lower one (v >= b) never the least.
      var useless = options.worseHigh ? rest[rest.length - 1] : rest[0];
      if (!options.worseHigh) {
        b = rest[Math.min(rest.length - 1, Math.ceil(i * rest.length / wanted))];
      }
      if (breaks.indexOf(b) < 0 && b !== useless) { breaks.push(b); }
    }
    if (options.worseHigh) {
      var low = null;
      breaks.forEach(function (b) {
        var from = low;
        classes.push({ label: (from === null ? "jusqu'à " : "plus de " + fmt(from) + " à ") + fmt(b),
          test: function (v) { return v <= b; } });
        low = b;
      });
      classes.push({ label: low === null ? fmt(rest[0]) + " à " + fmt(rest[rest.length - 1])
        : "plus de " + fmt(low), test: function () { return true; } });
    } else {
      var descending = breaks.slice().reverse();
      var high = null;
      descending.forEach(function (b) {
        var to = high;
        classes.push({ label: fmt(b) + (to === null ? " et plus" : " à moins de " + fmt(to)),
          test: function (v) { return v >= b; } });
        high = b;
      });
      classes.push({ label: high === null ? fmt(rest[0]) + " à " + fmt(rest[rest.length - 1])
        : "moins de " + fmt(high), test: function () { return true; } });
    }
    return classes;
  }

  function shareMeasure(radius) {
    return {
      title: function (state) {
        return "Part " + (state.need === "population" ? "de la population" : "du besoin") +
          " à moins de " + radius + " km d'un lieu";
      },
      radius: radius,
      value: function (p, state) {
        var key = state.need === "population" ? "share_population_covered_" : "share_need_covered_";
        return p[key + radius + "km"];
      },
      format: fmtShare,
      explain: "Sur 100 habitants du territoire, combien ont un lieu d'accompagnement " +
        "numérique à moins de " + radius + " km par la route (estimée).",
      note: QUANTILE_NOTE,
      // Best first; the last class is the least served.
      classes: function (values) {
        return quantileClasses(values.map(function (v) { return v >= 1 ? 1 : v; }), {
          ideal: 1, idealLabel: "100 %", format: fmtShare, worseHigh: false });
      },
      missing: "sans population"
    };
  }

  function uncoveredMeasure(radius) {
    return {
      title: function () { return "Personnes sans lieu à moins de " + radius + " km"; },
      radius: radius,
      value: function (p) { return p["uncovered_population_" + radius + "km"]; },
      format: function (v) { return v === null || v === undefined ? "—" : fmtNumber(v); },
      explain: "Le nombre d'habitants pour qui le lieu d'accompagnement numérique le plus " +
        "proche est à plus de " + radius + " km par la route (estimée) : les premiers à " +
        "rapprocher d'un lieu.",
      note: QUANTILE_NOTE,
      classes: function (values) {
        return quantileClasses(values, { ideal: 0, idealLabel: "personne",
          format: fmtNumber, worseHigh: true });
      },
      missing: "sans population"
    };
  }

  var MEASURES = {
    uncovered20: uncoveredMeasure(20),
    share20: shareMeasure(20),
    share30: shareMeasure(30),
    distance: {
      title: function () { return "Distance moyenne au lieu le plus proche (route estimée)"; },
      radius: 30,
      value: function (p) {
        if (p.mean_nearest_km === null || p.mean_nearest_km === undefined) {
          // Nobody has a venue within 30 km (a territory without people has no value).
          return p.population > 0 ? Infinity : null;
        }
        return p.mean_nearest_km;
      },
      format: function (v) { return v === Infinity ? "aucun lieu à 30 km" : fmtKm(v); },
      explain: "La distance moyenne, par la route (estimée), entre un habitant et le lieu " +
        "d'accompagnement numérique le plus proche.",
      note: "Classes : seuils fixes de 5, 10, 20 et 30 km (les objectifs de distance).",
      classes: function () {
        return [
          { label: "5 km ou moins", test: function (v) { return v <= 5; } },
          { label: "5 à 10 km", test: function (v) { return v <= 10; } },
          { label: "10 à 20 km", test: function (v) { return v <= 20; } },
          { label: "20 à 30 km", test: function (v) { return v <= 30; } },
          { label: "aucun lieu à 30 km", test: function () { return true; } }
        ];
      },
      missing: "sans population"
    },
    index: {
      title: function () { return "Indice d'accessibilité (1 = moyenne de référence)"; },
      radius: 30,
      value: function (p) { return p.accessibility_index; },
      format: fmtDecimal,
      explain: "La capacité d'accompagnement à portée de chaque habitant, une fois partagée " +
        "avec tous ceux qui peuvent aller aux mêmes lieux : 1 = la moyenne, 0,5 = deux fois " +
        "moins, 0 = aucun lieu à 30 km.",
      note: QUANTILE_NOTE,
      classes: function (values) {
        return quantileClasses(values, { format: fmtDecimal, worseHigh: false });
      },
      missing: "sans donnée"
    },
    gap: {
      title: function () { return "Écart de capacité (accompagnements par semaine manquants)"; },
      radius: 30,
      value: function (p) { return p.capacity_gap; },
      format: fmtSmall,
      explain: "Le nombre d'accompagnements par semaine qui manquent pour amener chaque " +
        "commune sous la moyenne d'accessibilité à cette moyenne.",
      note: QUANTILE_NOTE,
      classes: function (values) {
        return quantileClasses(values.map(function (v) { return v <= 0 ? 0 : v; }), {
          ideal: 0, idealLabel: "aucun écart", format: fmtSmall, worseHigh: true });
      },
      missing: "sans donnée"
    }
  };

  /* Colours for n classes out of the 5 of the palette, the last always the darkest. */
  function colours(n) {
    if (n >= PALETTE.length) { return PALETTE.slice(0, n); }
    return PALETTE.slice(PALETTE.length - n);
  }

  // ------------------------------------------------------------------ small DOM helpers

  function byId(id) { return document.getElementById(id); }

  function setText(element, text) { element.textContent = text; }

  function clear(element) {
    while (element.firstChild) { element.removeChild(element.firstChild); }
  }

  function addFigure(dl, term, value) {
    var dt = document.createElement("dt");
    var dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value;
    dl.appendChild(dt);
    dl.appendChild(dd);
  }

  function query(params) {
    var pairs = [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      if (value !== null && value !== undefined && value !== "") {
        pairs.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
      }
    });
    return pairs.length ? "?" + pairs.join("&") : "";
  }

  // A long computation answers 202 with its background job (body.url): follow the job
  // until it ends, telling ``onProgress`` its state, and resolve with its result.
  function fetchJson(url, onProgress, method, csrfToken) {
    var headers = { Accept: "application/json, application/geo+json" };
    if (csrfToken) { headers["X-CSRFToken"] = csrfToken; }
    return fetch(url, { method: method || "GET", headers: headers, credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return null; }).then(function (body) {
          if (!response.ok) {
            var error = new Error((body && body.message) || ("Erreur " + response.status));
            error.status = response.status;
            throw error;
          }
          if (body === null && response.redirected) {
            // A page answered instead (the sign-in page, once the session has expired).
            throw new Error("votre session a expiré : reconnectez-vous puis recommencez.");
          }
          if (response.status === 202 && body && body.url) {
            return followJob(body, onProgress);
          }
          return body;
        });
      });
  }

  function followJob(job, onProgress) {
    if (job.state === "finished") { return job.result; }
    if (job.state === "failed" || job.state === "stopped" || job.state === "canceled") {
      return Promise.reject(new Error(job.error || "La tâche de fond a échoué."));
    }
    if (onProgress) { onProgress(job); }
    return new Promise(function (resolve) { setTimeout(resolve, 1000); })
      .then(function () { return fetchJson(job.url); })
      .then(function (next) { return followJob(next, onProgress); });
  }

  // ------------------------------------------------------------------ the map

  function CoverageMap(element) {
    this.element = element;
    this.urls = {
      runs: element.getAttribute("data-runs-url"),
      coverage: element.getAttribute("data-coverage-url"),
      // The map's light view (only the figures drawn, polygons for the zoom); the coverage
      // API itself serves the exports and the panel's full figures.
      map: element.getAttribute("data-map-url") || "",
      suggestions: element.getAttribute("data-suggestions-url"),
      venues: element.getAttribute("data-venues-url"),
      programmes: element.getAttribute("data-programmes-url"),
      venuePage: element.getAttribute("data-venue-page-url"),
      refresh: element.getAttribute("data-refresh-url") || "",
      csrf: element.getAttribute("data-csrf-token") || "",
      brief: element.getAttribute("data-brief-url") || "",
      folium: element.getAttribute("data-folium-url") || "",
      demand: element.getAttribute("data-demand-url") || ""
    };
    this.controls = {
      measure: byId("carte-mesure"), programme: byId("carte-programme"),
      service: byId("carte-service"), need: byId("carte-besoin"),
      within: byId("carte-territoire"), level: byId("carte-maille"),
      venues: byId("carte-couche-lieux"), uncovered: byId("carte-couche-non-couverts"),
      sites: byId("carte-couche-sites"), demand: byId("carte-couche-orientations")
    };
    this.status = byId("carte-statut");
    this.sequence = { territories: 0, venues: 0, sites: 0, details: 0, demand: 0 };
    this.demandLevel = null;     // level and programme of the referrals layer drawn
    this.collection = null;      // the FeatureCollection of a one-request level
    this.run = null;             // the coverage run the figures come from
    this.request = null;         // {level, url, params} of what is shown
    this.selected = null;        // code of the territory in the panel
    this.runs = [];
    this.readState();
    this.buildMap();
    this.bindControls();
  }

  CoverageMap.prototype.readState = function () {
    var params = new URLSearchParams(window.location.search);
    var c = this.controls;
    [["mesure", c.measure], ["service", c.service], ["need", c.need], ["maille", c.level]]
      .forEach(function (pair) {
        var value = params.get(pair[0]);
        if (value !== null && Array.prototype.some.call(pair[1].options, function (o) {
          return o.value === value;
        })) {
          pair[1].value = value;
        }
      });
    this.wanted = { programme: params.get("programme") || "", within: params.get("within") || "" };
    // "#zoom/lat/lon": a shared view (written back as the map moves).
    var view = /^#(\d{1,2}(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)$/.exec(
      window.location.hash);
    this.wantedView = view ? { zoom: +view[1], center: [+view[2], +view[3]] } : null;
  };

  CoverageMap.prototype.state = function () {
    var c = this.controls;
    return {
      measure: c.measure.value, programme: c.programme.value, service: c.service.value,
      need: c.need.value, within: c.within.value || "fr", level: c.level.value
    };
  };

  CoverageMap.prototype.writeState = function () {
    var s = this.state();
    var search = query({ mesure: s.measure === DEFAULT_MEASURE ? "" : s.measure, programme: s.programme,
      service: s.service, need: s.need === "population" ? "" : s.need,
      within: s.within === "fr" ? "" : s.within, maille: s.level === "auto" ? "" : s.level });
    window.history.replaceState(null, "", window.location.pathname + search + this.viewHash());
  };

  CoverageMap.prototype.viewHash = function () {
    if (!this.map) { return ""; }
    var c = this.map.getCenter();
    var zoom = Math.round(this.map.getZoom() * 100) / 100;
    return "#" + zoom + "/" + c.lat.toFixed(4) + "/" + c.lng.toFixed(4);
  };

  CoverageMap.prototype.buildMap = function () {
    var L = window.L;
    var options = {};
    try { options = JSON.parse(this.element.getAttribute("data-options") || "{}"); }
    catch (e) { options = {}; }
    this.home = { center: options.center || [46.6, 2.4], zoom: options.zoom || 6 };
    var basemap = this.element.getAttribute("data-basemap");
    var map = L.map(this.element, {
      center: this.home.center, zoom: this.home.zoom,
      minZoom: options.minZoom, maxZoom: options.maxZoom,
      zoomControl: options.zoomControl !== false, preferCanvas: false,
      // Without a basemap nothing is drawn from raster tiles: quarter zooms let a
      // territory fill the frame (with whole zooms it may fill barely half of it).
      zoomSnap: basemap ? 1 : FREE_ZOOM_SNAP
    });
    if (basemap) {
      try {
        var config = JSON.parse(basemap);
        L.tileLayer(config.url, config.options || {}).addTo(map);
      } catch (e) {
        this.element.classList.add("is-plain");
      }
    } else {
      // Offline: no tiles at all, the choropleth on a plain background.
      this.element.classList.add("is-plain");
      map.attributionControl.setPrefix(false);
    }
    L.control.scale({ imperial: false }).addTo(map);
    map.createPane("uncovered").style.zIndex = 450;
    map.getPane("uncovered").style.pointerEvents = "none";
    map.createPane("sites").style.zIndex = 640;
    this.territoryLayer = L.geoJSON(null, {
      style: this.styleFeature.bind(this),
      onEachFeature: this.bindFeature.bind(this)
    }).addTo(map);
    this.uncoveredLayer = L.layerGroup().addTo(map);
    this.venueLayer = L.markerClusterGroup ? L.markerClusterGroup({
      showCoverageOnHover: false, maxClusterRadius: 50, chunkedLoading: true
    }) : L.layerGroup();
    this.venueLayer.addTo(map);
    this.siteLayer = L.layerGroup().addTo(map);
    map.createPane("demand").style.zIndex = 455;
    this.demandLayer = L.layerGroup().addTo(map);
    map.createPane("labels").style.zIndex = 460;
    map.getPane("labels").style.pointerEvents = "none";
    this.labelLayer = L.layerGroup().addTo(map);
    this.map = map;
    map.on("moveend", this.onMove.bind(this));
    map.on("zoomend", function () { this.labelLayer && this.placeLabels(); }.bind(this));
  };

  CoverageMap.prototype.bindControls = function () {
    var self = this;
    var c = this.controls;
    c.measure.addEventListener("change", function () {
      self.writeState();
      self.restyle();
    });
    [c.programme, c.service, c.need].forEach(function (select) {
      select.addEventListener("change", function () {
        self.writeState();
        self.clearSites();
        self.loadRuns();
      });
    });
    c.within.addEventListener("change", function () {
      self.writeState();
      self.clearSites();
      self.resetPanel();
      self.frameTerritory();
    });
    c.level.addEventListener("change", function () {
      self.writeState();
      self.loadTerritories(true);
    });
    c.venues.addEventListener("change", function () { self.loadVenues(); });
    c.uncovered.addEventListener("change", function () { self.drawUncovered(); });
    if (c.demand && this.urls.demand) {
      c.demand.addEventListener("change", function () { self.loadDemand(); });
      c.programme.addEventListener("change", function () { self.loadDemand(); });
    }
    c.sites.addEventListener("change", function () {
      if (c.sites.checked) { self.siteLayer.addTo(self.map); }
      else { self.map.removeLayer(self.siteLayer); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("input[name=mode]"), function (radio) {
      radio.addEventListener("change", function () {
        var budget = byId("carte-mode-budget").checked;
        byId("carte-bloc-budget").hidden = !budget;
        byId("carte-bloc-k").hidden = budget;
      });
    });
    byId("carte-suggestions").addEventListener("submit", function (event) {
      event.preventDefault();
      self.loadSuggestions();
    });
    var recompute = byId("carte-recalculer");
    if (recompute && this.urls.refresh) {
      recompute.hidden = false;
      recompute.addEventListener("click", function () { self.recompute(); });
    }
    byId("carte-zoom-territoire").addEventListener("click", function () {
      var layer = self.layerOf(self.selected);
      if (layer) { self.map.fitBounds(layer.getBounds(), { padding: [16, 16] }); }
    });
  };

  CoverageMap.prototype.say = function (text, isError) {
    setText(this.status, text);
    this.status.classList.toggle("is-error", !!isError);
  };

  CoverageMap.prototype.start = function () {
    var self = this;
    fetchJson(this.urls.programmes + "?geometry=none").then(function (body) {
      var select = self.controls.programme;
      (body.items || []).forEach(function (programme) {
        var option = document.createElement("option");
        option.value = programme.code;
        option.textContent = programme.name;
        select.appendChild(option);
      });
      if (self.wanted.programme) { select.value = self.wanted.programme; }
    }).catch(function () {
      self.say("La liste des programmes n'a pas pu être chargée.", true);
    }).then(function () { self.loadRuns(); });
  };

  // ------------------------------------------------------------------ runs and territory

  CoverageMap.prototype.loadRuns = function () {
    var self = this;
    var s = this.state();
    this.say("Recherche des calculs de couverture…");
    return fetchJson(this.urls.runs + query({ programme: s.programme, service: s.service,
      need: s.need })).then(function (body) {
      // The runs endpoint filters on what is given; "all venues" must match exactly too.
      self.runs = (body.runs || []).filter(function (run) {
        return (run.programme || "") === s.programme && (run.service || "") === s.service &&
          run.need === s.need;
      });
      self.fillTerritories();
      if (self.framedWithin === self.state().within) {
        // Same territory, other selection: keep the user's view, reload its figures.
        self.loadTerritories(true);
      } else {
        self.frameTerritory();
      }
    }).catch(function (error) {
      self.say("Les calculs de couverture n'ont pas pu être listés : " + error.message, true);
    });
  };

  CoverageMap.prototype.fillTerritories = function () {
    var select = this.controls.within;
    var previous = this.wanted.within || select.value;
    this.wanted.within = "";
    clear(select);
    var seen = {};
    var options = [];
    this.runs.forEach(function (run) {
      if (!seen[run.within]) {
        seen[run.within] = true;
        options.push({ value: run.within, label: run.within_name || run.within });
      }
    });
    if (!options.length) { options.push({ value: previous || "fr", label: previous || "France entière" }); }
    options.forEach(function (o) {
      var option = document.createElement("option");
      option.value = o.value;
      option.textContent = o.value === "fr" ? "France entière" : o.label;
      select.appendChild(option);
    });
    if (seen[previous]) { select.value = previous; }
    else if (seen.fr) { select.value = "fr"; }
  };

  /* Frames the study territory, which then loads the level matching the zoom. */
  CoverageMap.prototype.frameTerritory = function () {
    var self = this;
    var s = this.state();
    byId("carte-absence").hidden = true;
    this.request = null;
    this.framedWithin = s.within;
    if (this.wantedView) {
      var view = this.wantedView;
      this.wantedView = null;
      this.map.setView(view.center, view.zoom, { animate: false });
      this.loadTerritories(false);
      return;
    }
    if (s.within === "fr") {
      this.map.setView(this.home.center, this.home.zoom, { animate: false });
      this.loadTerritories(false);
      return;
    }
    // A département-level view of the territory gives its extent (and is cached).
    var url = this.drawUrl("departement", { within: s.within }, 5);
    fetchJson(url).then(function (collection) {
      var bounds = window.L.geoJSON(collection).getBounds();
      if (bounds.isValid()) {
        // Not animated: the level is chosen from the zoom right after.
        self.map.fitBounds(bounds, { padding: [8, 8], animate: false });
      }
      self.loadTerritories(false);
    }).catch(function (error) { self.showFailure(error); });
  };

  CoverageMap.prototype.levelForZoom = function () {
    var chosen = this.controls.level.value;
    var zoom = Math.round(this.map.getZoom());   // the zoom of the data tiles
    if (chosen === "commune" && zoom < COMMUNE_MIN_ZOOM) { return "epci"; }
    if (chosen !== "auto") { return chosen; }
    if (zoom <= 4) { return "region"; }
    if (zoom <= 6) { return "departement"; }
    if (zoom < COMMUNE_AUTO_ZOOM) { return "epci"; }
    return "commune";
  };

  /* The view's box, widened to a grid so that small moves reuse the same (cached) URL. */
  CoverageMap.prototype.snappedBox = function () {
    var b = this.map.getBounds();
    var step = 90 / Math.pow(2, this.map.getZoom());
    function down(v) { return Math.floor(v / step) * step; }
    function up(v) { return Math.ceil(v / step) * step; }
    var box = [Math.max(-180, down(b.getWest())), Math.max(-90, down(b.getSouth())),
      Math.min(180, up(b.getEast())), Math.min(90, up(b.getNorth()))];
    return box.map(function (v) { return Math.round(v * 1e5) / 1e5; }).join(",");
  };

  CoverageMap.prototype.coverageUrl = function (level, extra) {
    var s = this.state();
    var params = { within: s.within, programme: s.programme, service: s.service,
      need: s.need === "population" ? "" : s.need };
    Object.keys(extra || {}).forEach(function (key) { params[key] = extra[key]; });
    return this.urls.coverage + "/" + level + query(params);
  };

  CoverageMap.prototype.drawUrl = function (level, extra, zoom) {
    if (!this.urls.map) { return this.coverageUrl(level, extra); }
    var url = this.coverageUrl(level, extra).replace(this.urls.coverage + "/", this.urls.map + "/");
    // Naming the run makes the answer immutable: the browser keeps it for the session.
    var run = this.runId();
    if (run) { url += (url.indexOf("?") >= 0 ? "&" : "?") + "run=" + run; }
    // Shapes come per whole zoom (a fractional zoom rounds, as Leaflet's tiles do).
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + "zoom=" + Math.round(zoom);
  };

  /* The run the map API would pick for the selection: the newest of its own territory
   * (none when the figures come from a run of a larger territory: then left to the API). */
  CoverageMap.prototype.runId = function () {
    var within = this.state().within;
    var best = null;
    this.runs.forEach(function (run) {
      if (run.within === within && (!best || run.created_at > best.created_at ||
          (run.created_at === best.created_at && run.id > best.id))) { best = run; }
    });
    return best ? best.id : "";
  };

  CoverageMap.prototype.onMove = function () {
    window.history.replaceState(null, "", window.location.pathname + window.location.search +
      this.viewHash());
    // Venues follow once the territories of the view are in (see draw):
    // the choropleth comes first.
    this.loadTerritories(false);
  };

  CoverageMap.prototype.loadTerritories = function (force) {
    var self = this;
    var level = this.levelForZoom();
    if (this.shownLevel && level !== this.shownLevel) { this.resetPanel(); }
    this.shownLevel = level;
    this.loadDemand();
    var extra = {};
    var urls;
    if (level === "epci" || level === "commune") {
      // The view in one request (in bands for communes at zoom 8 and 9: each within the
      // API's limit), its box widened to whole cells of the zoom's grid.
      urls = this.viewBoxes(level).map(function (box) {
        return self.drawUrl(level, { bbox: box }, self.map.getZoom());
      });
      extra.bbox = this.snappedBox();
    } else {
      urls = [this.drawUrl(level, extra, this.map.getZoom())];
    }
    var url = urls.join(" ");
    if (!force && (url === this.pendingUrl || (this.request && this.request.url === url))) {
      if (url !== this.pendingUrl) {
        if (this.request) { this.request.extra = extra; }
        this.updateExports();
        this.loadVenues();     // same figures, new view
      }
      return;
    }
    this.pendingUrl = url;
    var ticket = ++this.sequence.territories;
    var note = this.controls.level.value === "commune" && level === "epci"
      ? " Les communes apparaissent à partir du zoom " + COMMUNE_MIN_ZOOM + " : " : "";
    this.say(note + "Chargement : " + LEVEL_LOADING[level] + "…");
    Promise.all(urls.map(function (one) { return fetchJson(one); })).then(function (parts) {
      if (ticket !== self.sequence.territories) { return; }
      self.pendingUrl = null;
      byId("carte-absence").hidden = true;
      var collection = parts[0];
      if (parts.length > 1) {
        // A territory across two boxes comes twice: kept once.
        var seen = {};
        collection = Object.assign({}, parts[0], { features: [] });
        parts.forEach(function (part) {
          part.features.forEach(function (feature) {
            if (!seen[feature.properties.code]) {
              seen[feature.properties.code] = true;
              collection.features.push(feature);
            }
          });
        });
      }
      self.request = { level: level, url: url, extra: extra };
      self.collection = collection;
      self.run = collection.run;
      self.draw();
      // The ranked list beside the map comes once the view is drawn: the map first.
      self.loadRanking();
      var count = collection.features.length;
      self.say(note + fmtNumber(count) + " " + LEVEL_SHOWN[level][count > 1 ? 1 : 0] +
        (extra.bbox ? " autour de la vue." : "."));
    }).catch(function (error) {
      if (ticket !== self.sequence.territories) { return; }
      self.pendingUrl = null;
      self.showFailure(error);
      self.loadRanking();
    });
  };

  /* The boxes ("minlon,minlat,maxlon,maxlat") to ask for the view at ``level``: the view
   * widened to whole VIEW_CELL-pixel cells of the whole zoom's grid (a small move keeps
   * the same URLs, cached by the browser and the server), cut into bands of at most
   * ``BAND_CELLS[level][zoom]`` cells for a level too dense for one request. */
  CoverageMap.prototype.viewBoxes = function (level) {
    var map = this.map;
    var zoom = Math.round(map.getZoom());
    var bounds = map.getBounds();
    var nw = map.project(bounds.getNorthWest(), zoom).divideBy(VIEW_CELL).floor();
    var se = map.project(bounds.getSouthEast(), zoom).divideBy(VIEW_CELL).ceil();
    var last = Math.pow(2, zoom) * 256 / VIEW_CELL;
    var x0 = Math.max(0, nw.x);
    var x1 = Math.min(last, se.x);
    var y0 = Math.max(0, nw.y);
    var y1 = Math.min(last, se.y);
    var most = (BAND_CELLS[level] || {})[zoom] || Infinity;
    // As few bands as the API's limit allows, as even as whole cells allow: they are asked
    // at once, and the view is drawn when the larger one is in.
    var band = Math.ceil((x1 - x0) / Math.ceil((x1 - x0) / most));
    function round(v) { return Math.round(v * 1e6) / 1e6; }
    var boxes = [];
    for (var x = x0; x < x1; x += band) {
      var a = map.unproject(window.L.point(x * VIEW_CELL, y0 * VIEW_CELL), zoom);
      var b = map.unproject(window.L.point(Math.min(x + band, x1) * VIEW_CELL, y1 * VIEW_CELL),
        zoom);
      boxes.push([Math.max(-180, round(a.lng)), Math.max(-85, round(b.lat)),
        Math.min(180, round(b.lng)), Math.min(85, round(a.lat))].join(","));
    }
    return boxes;
  };

  CoverageMap.prototype.showFailure = function (error) {
    if (error.status === 404) {
      var message = error.message;
      var at = message.indexOf("Lancez : ");
      setText(byId("carte-absence-message"), at >= 0 ? message.slice(0, at).trim() : message);
      setText(byId("carte-absence-commande"), at >= 0 ? message.slice(at + 9).trim()
        : "flask --app app coverage refresh --within " + this.state().within);
      byId("carte-absence").hidden = false;
      this.territoryLayer.clearLayers();
      this.uncoveredLayer.clearLayers();
      this.collection = null;
      this.run = null;
      this.request = null;
      this.renderLegend();
      this.say("Aucun calcul de couverture pour cette sélection.", true);
      return;
    }
    this.say("Les chiffres n'ont pas pu être chargés : " + error.message, true);
  };

  // ------------------------------------------------------------------ drawing

  CoverageMap.prototype.features = function () {
    return this.territoryLayer.getLayers().map(function (layer) { return layer.feature; });
  };

  CoverageMap.prototype.currentClasses = function (features) {
    var s = this.state();
    var measure = MEASURES[s.measure];
    var values = [];
    (features || this.features()).forEach(function (f) {
      var v = measure.value(f.properties, s);
      if (v !== null && v !== undefined && !isNaN(v)) { values.push(v); }
    });
    var classes = measure.classes(values);
    var palette = colours(classes.length);
    classes.forEach(function (c, i) { c.colour = palette[i]; c.count = 0; });
    return { measure: measure, classes: classes, state: s };
  };

  CoverageMap.prototype.classify = function (props) {
    var v = this.scheme.measure.value(props, this.scheme.state);
    if (v === null || v === undefined || isNaN(v)) { return null; }
    for (var i = 0; i < this.scheme.classes.length; i += 1) {
      if (this.scheme.classes[i].test(v)) { return this.scheme.classes[i]; }
    }
    return null;
  };

  CoverageMap.prototype.styleFeature = function (feature) {
    var found = this.classify(feature.properties);
    var selected = feature.properties.code === this.selected;
    return {
      className: "coverage-territory",
      color: selected ? "#000000" : "#4d4d4d",
      weight: selected ? 3 : (this.request && this.request.level === "commune" ? 0.5 : 1),
      fillColor: found ? found.colour : MISSING,
      fillOpacity: found ? 0.78 : 0.5,
      dashArray: found ? null : "3 3"
    };
  };

  CoverageMap.prototype.draw = function () {
    this.scheme = this.currentClasses(this.collection.features);
    this.territoryLayer.clearLayers();
    this.focusable = 0;
    this.territoryLayer.addData(this.collection);
    this.countClasses();
    this.renderLegend();
    this.drawUncovered();
    this.placeLabels();
    this.updateExports();
    this.describeRun();
    var selected = this.layerOf(this.selected);
    if (selected) { this.showPanel(selected.feature, false); }
    this.loadVenues();
  };

  CoverageMap.prototype.restyle = function () {
    if (!this.run) { this.renderLegend(); return; }
    this.scheme = this.currentClasses();
    var self = this;
    this.territoryLayer.eachLayer(function (layer) {
      layer.setStyle(self.styleFeature(layer.feature));
      self.label(layer);
    });
    this.countClasses();
    this.renderLegend();
    this.drawUncovered();
    this.placeLabels();
  };

  CoverageMap.prototype.countClasses = function () {
    var self = this;
    this.missingCount = 0;
    this.features().forEach(function (f) {
      var found = self.classify(f.properties);
      if (found) { found.count += 1; } else { self.missingCount += 1; }
    });
  };

  CoverageMap.prototype.label = function (layer) {
    var element = layer.getElement && layer.getElement();
    if (!element) { return; }
    var p = layer.feature.properties;
    var measure = this.scheme.measure;
    element.setAttribute("aria-label", p.name + " : " +
      measure.format(measure.value(p, this.scheme.state)));
  };

  CoverageMap.prototype.bindFeature = function (feature, layer) {
    var self = this;
    layer.on("click", function () { self.select(feature.properties.code, true); });
    layer.on("add", function () {
      var element = layer.getElement();
      if (!element) { return; }
      element.setAttribute("data-code", feature.properties.code);
      element.classList.toggle("is-selected", feature.properties.code === self.selected);
      if (self.focusable < MAX_FOCUSABLE) {
        self.focusable += 1;
        element.setAttribute("tabindex", "0");
        element.setAttribute("role", "button");
        element.addEventListener("keydown", function (event) {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            self.select(feature.properties.code, true);
          }
        });
      }
      self.label(layer);
    });
  };

  CoverageMap.prototype.layerOf = function (code) {
    var found = null;
    if (code === null) { return null; }
    this.territoryLayer.eachLayer(function (layer) {
      if (layer.feature.properties.code === code) { found = layer; }
    });
    return found;
  };

  CoverageMap.prototype.select = function (code, focus) {
    var previous = this.layerOf(this.selected);
    this.selected = code;
    if (previous) {
      previous.setStyle(this.styleFeature(previous.feature));
      if (previous.getElement()) { previous.getElement().classList.remove("is-selected"); }
    }
    var layer = this.layerOf(code);
    if (!layer) { return; }
    layer.setStyle(this.styleFeature(layer.feature));
    if (layer.getElement()) { layer.getElement().classList.add("is-selected"); }
    layer.bringToFront();
    this.showPanel(layer.feature, focus);
  };

  CoverageMap.prototype.renderLegend = function () {
    var list = byId("carte-legende-classes");
    clear(list);
    var s = this.state();
    var measure = MEASURES[s.measure];
    setText(byId("carte-legende-titre"), measure.title(s));
    setText(byId("carte-legende-explication"), measure.explain);
    setText(byId("carte-legende-seuils"), measure.note);
    if (!this.scheme || !this.run) { return; }
    var entries = this.scheme.classes.slice();
    if (this.missingCount) {
      entries.push({ label: measure.missing, colour: null, count: this.missingCount });
    }
    entries.forEach(function (entry) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "legend-swatch" + (entry.colour ? "" : " is-missing");
      if (entry.colour) { swatch.style.backgroundColor = entry.colour; }
      swatch.setAttribute("aria-hidden", "true");
      var text = document.createElement("span");
      text.className = "legend-label";
      text.textContent = entry.label;
      var count = document.createElement("span");
      count.className = "legend-count";
      count.textContent = "(" + fmtNumber(entry.count) + ")";
      item.appendChild(swatch);
      item.appendChild(text);
      item.appendChild(count);
      list.appendChild(item);
    });
  };

  /* Proportional circles (area ∝ people) at each territory's centre. */
  CoverageMap.prototype.drawUncovered = function () {
    var L = window.L;
    var self = this;
    this.uncoveredLayer.clearLayers();
    var note = byId("carte-legende-cercles");
    if (!this.controls.uncovered.checked || !this.run) { note.hidden = true; return; }
    var radius = (this.scheme && this.scheme.measure.radius) || 30;
    var key = "uncovered_population_" + radius + "km";
    var max = 0;
    this.territoryLayer.eachLayer(function (layer) {
      max = Math.max(max, layer.feature.properties[key] || 0);
    });
    if (max <= 0) {
      note.hidden = false;
      setText(note, "Personne sans lieu à moins de " + radius + " km dans la vue.");
      return;
    }
    this.territoryLayer.eachLayer(function (layer) {
      var people = layer.feature.properties[key] || 0;
      if (people <= 0) { return; }
      var centre;
      try { centre = layer.getCenter(); } catch (e) { centre = layer.getBounds().getCenter(); }
      L.circleMarker(centre, {
        pane: "uncovered", interactive: false, radius: Math.max(2, CIRCLE_MAX_PX * Math.sqrt(people / max)),
        color: "#1f3a93", weight: 1.5, fillColor: "#3d6fd1", fillOpacity: 0.35
      }).addTo(self.uncoveredLayer);
    });
    note.hidden = false;
    setText(note, "Cercles bleus : personnes sans lieu à moins de " + radius +
      " km (surface proportionnelle ; le plus grand : " + fmtNumber(max) + " personnes).");
  };

  // ------------------------------------------------------------------ referrals

  /* The referrals layer (GET /api/v1/stats/carte): per territory of the venues, a disc
   * whose area is proportional to the referrals per 1,000 inhabitants (the demand that
   * reached a venue), and inside it a red ring on the same scale for the refusals for lack
   * of capacity (the demand that was not met). Counts below 5 come masked (null). */
  CoverageMap.prototype.loadDemand = function () {
    var self = this;
    var note = byId("carte-legende-orientations");
    var box = this.controls.demand;
    if (!box || !this.urls.demand || !box.checked) {
      ++this.sequence.demand;
      this.demandLayer.clearLayers();
      this.demandLevel = null;
      if (note) { note.hidden = true; }
      return;
    }
    var level = DEMAND_LEVEL[this.levelForZoom()] || "departement";
    // The programme of the map's selector (its code) filters the referrals too.
    var programme = this.controls.programme.value;
    var key = level + "|" + programme;
    if (key === this.demandLevel) { return; }
    var ticket = ++this.sequence.demand;
    this.demandLevel = key;
    note.hidden = false;
    setText(note, "Orientations : chargement…");
    fetchJson(this.urls.demand + query({ niveau: level, programme: programme }))
      .then(function (collection) {
      if (ticket !== self.sequence.demand) { return; }
      self.drawDemand(collection, level);
    }).catch(function () {
      if (ticket !== self.sequence.demand) { return; }
      self.demandLevel = null;
      setText(note, "Les orientations n'ont pas pu être chargées.");
    });
  };

  CoverageMap.prototype.drawDemand = function (collection, level) {
    var L = window.L;
    var self = this;
    var note = byId("carte-legende-orientations");
    this.demandLayer.clearLayers();
    var features = (collection.features || []).filter(function (f) { return f.geometry; });
    var shown = features.filter(function (f) {
      return f.properties.orientations_pour_1000_habitants !== null &&
        f.properties.orientations_pour_1000_habitants !== undefined;
    });
    var masked = features.length - shown.length;
    var max = 0;
    shown.forEach(function (f) {
      max = Math.max(max, f.properties.orientations_pour_1000_habitants);
    });
    var thousand = fmtNumber(1000);
    function radius(rate) { return Math.max(3, CIRCLE_MAX_PX * Math.sqrt(rate / max)); }
    shown.forEach(function (f) {
      var p = f.properties;
      var rate = p.orientations_pour_1000_habitants;
      var centre = L.geoJSON(f).getBounds().getCenter();
      var refused = p.refus_manque_de_place;
      var tooltip = p.nom + " : " + fmtDecimal(rate) + " orientations pour " + thousand +
        " habitants ; " + (refused === null || refused === undefined
        ? "moins de 5" : fmtNumber(refused)) + " refusées faute de place";
      var disc = L.circleMarker(centre, {
        pane: "demand", radius: max > 0 ? radius(rate) : 3, className: "demand-disc",
        color: "#1b7837", weight: 1.5, fillColor: "#5aae61", fillOpacity: 0.45
      }).bindTooltip(tooltip, { direction: "top" });
      disc.addTo(self.demandLayer);
      if (refused && p.population && max > 0) {
        L.circleMarker(centre, {
          pane: "demand", interactive: false, className: "demand-refusals",
          radius: radius(1000 * refused / p.population), color: "#b2182b", weight: 3,
          fill: false
        }).addTo(self.demandLayer);
      }
    });
    var text;
    if (!shown.length) {
      text = "Orientations : aucune à afficher par " + DEMAND_LEVEL_NAMES[level] +
        (masked ? " (" + fmtNumber(masked) + " territoire(s) à moins de 5 orientations, " +
          "masqués)" : "") + ".";
    } else {
      text = "Disques verts : orientations pour " + thousand + " habitants par " +
        DEMAND_LEVEL_NAMES[level] + " du lieu (surface proportionnelle ; la plus forte : " +
        fmtDecimal(max) + ") ; anneau rouge : orientations refusées faute de place, à la " +
        "même échelle." + (masked ? " " + fmtNumber(masked) + " territoire(s) à moins de 5 " +
        "orientations, masqués." : "");
    }
    setText(note, text);
  };

  // ------------------------------------------------------------------ panel

  /* The map's payload may carry only the figures it draws; the panel then asks the coverage
   * API for all the figures of the one territory (a small, cached request). */
  CoverageMap.prototype.showPanel = function (feature, focus) {
    var self = this;
    var p = feature.properties;
    var requestKey = this.request ? this.request.url : "";
    var details = this.details && this.details.code === p.code &&
      this.details.level === p.level && this.details.key === requestKey
      ? this.details.properties : null;
    var panel = byId("carte-panneau");
    this.renderPanel(details || p, focus);
    if (details || "population_covered_10km" in p) {
      panel.setAttribute("aria-busy", "false");
      return;
    }
    panel.setAttribute("aria-busy", "true");
    var ticket = ++this.sequence.details;
    var key = requestKey;
    fetchJson(this.coverageUrl(p.level, { within: LEVEL_PREFIX[p.level] + p.code }))
      .then(function (collection) {
        if (ticket !== self.sequence.details || self.selected !== p.code) { return; }
        collection.features.forEach(function (f) {
          if (f.properties.code === p.code) {
            self.details = { code: p.code, level: p.level, key: key, properties: f.properties };
            self.renderPanel(f.properties, false);
          }
        });
        panel.setAttribute("aria-busy", "false");
      }).catch(function () {
        // The panel keeps the map's own figures.
        if (ticket === self.sequence.details) { panel.setAttribute("aria-busy", "false"); }
      });
  };

  CoverageMap.prototype.renderPanel = function (p, focus) {
    var s = this.state();
    var panel = byId("carte-panneau");
    setText(byId("carte-panneau-titre"), p.name + " (" + LEVEL_NAMES[p.level].toLowerCase() + ")");
    byId("carte-panneau-aide").hidden = true;
    byId("carte-panneau-actions").hidden = false;
    var dl = byId("carte-panneau-valeurs");
    clear(dl);
    var measure = MEASURES[s.measure];
    addFigure(dl, measure.title(s), measure.format(measure.value(p, s)));
    addFigure(dl, "Population", fmtNumber(p.population));
    if (s.measure !== "uncovered20") {
      addFigure(dl, "Personnes sans lieu à moins de 20 km", fmtNumber(p.uncovered_population_20km));
    }
    if (s.need !== "population") { addFigure(dl, "Besoin", fmtNumber(p.need)); }
    [10, 20, 30].forEach(function (t) {
      addFigure(dl, "Part de la population à moins de " + t + " km",
        fmtShare(p["share_population_covered_" + t + "km"]));
    });
    if (s.need !== "population") {
      addFigure(dl, "Part du besoin à moins de 20 km", fmtShare(p.share_need_covered_20km));
    }
    addFigure(dl, "Personnes sans lieu à 30 km", fmtNumber(p.uncovered_population_30km));
    addFigure(dl, "Distance moyenne au lieu le plus proche",
      p.mean_nearest_km === null ? "aucun lieu à 30 km" : fmtKm(p.mean_nearest_km));
    addFigure(dl, "Indice d'accessibilité (1 = moyenne)", fmtDecimal(p.accessibility_index));
    addFigure(dl, "Accompagnements par semaine pour 1 000 personnes",
      p.mean_accessibility === null ? "—" : fmtDecimal(p.mean_accessibility * 1000));
    addFigure(dl, "Écart de capacité (accompagnements par semaine)", fmtSmall(p.capacity_gap));
    if (p.level === "commune") {
      addFigure(dl, "Lieux à moins de 10 / 20 / 30 km", [p.venues_10km, p.venues_20km,
        p.venues_30km].map(fmtNumber).join(" / "));
      addFigure(dl, "Capacité à moins de 20 km (accompagnements par semaine)",
        fmtSmall(p.capacity_20km));
    } else {
      addFigure(dl, "Communes", fmtNumber(p.communes));
      addFigure(dl, "Communes sans lieu à 30 km", fmtNumber(p.communes_uncovered_30km));
    }
    setText(byId("carte-investir-territoire"), "Sites proposés dans : " + p.name +
      " (ou le territoire étudié si aucun territoire n'est choisi).");
    if (focus) { panel.focus(); }
  };

  // ------------------------------------------------------------------ exports and run

  CoverageMap.prototype.updateExports = function () {
    if (!this.request) { return; }
    var base = this.coverageUrl(this.request.level, this.request.extra);
    var join = base.indexOf("?") >= 0 ? "&" : "?";
    byId("carte-export-csv").href = base + join + "format=csv";
    byId("carte-export-geojson").href = base + join + "format=geojson";
  };

  CoverageMap.prototype.describeRun = function () {
    var run = this.run;
    var element = byId("carte-calcul");
    if (!run) { setText(element, ""); return; }
    var date = new Date(run.created_at);
    var text = "Calcul du " + date.toLocaleDateString("fr-FR") + " sur " +
      (run.within === "fr" ? "la France entière" : run.within_name) + " : " +
      fmtNumber(run.venues) + " lieux";
    if (run.venues_unknown_capacity) {
      text += ", dont " + fmtNumber(run.venues_unknown_capacity) +
        " sans capacité connue (comptés pour 1 accompagnement par semaine)";
    }
    text += " ; indice d'accessibilité par " + (METHOD_WORDS[run.method] || "bassins flottants") +
      ", distance par la route estimée à " + fmtDecimal(run.detour_factor) + " fois la distance à vol d'oiseau" +
      " ; indice rapporté à la moyenne " + (run.reference === "nation" ? "nationale" :
      "du territoire étudié") + ".";
    setText(element, text);
  };

  // ------------------------------------------------------------------ venues

  CoverageMap.prototype.loadVenues = function () {
    var self = this;
    var L = window.L;
    var ticket = ++this.sequence.venues;
    var note = byId("carte-legende-lieux");
    if (!this.controls.venues.checked || this.map.getZoom() < VENUE_MIN_ZOOM) {
      this.venueLayer.clearLayers();
      this.venueBox = null;
      setText(note, this.controls.venues.checked ? "Lieux : visibles à partir du zoom " +
        VENUE_MIN_ZOOM + " (zoomez)." : "");
      return;
    }
    var s = this.state();
    var box = this.snappedBox();
    var key = [box, s.programme, s.service].join("|");
    if (key === this.venueBox) { return; }
    var url = this.urls.venues + query({ bbox: box, programme: s.programme, service: s.service,
      format: "geojson", limit: VENUE_PAGE_SIZE });
    var features = [];
    function page(next, left) {
      return fetchJson(next).then(function (body) {
        if (ticket !== self.sequence.venues) { return null; }
        features = features.concat(body.features || []);
        if (body.next && left > 1) { return page(body.next, left - 1); }
        return body.next || null;
      });
    }
    page(url, VENUE_MAX_PAGES).then(function (more) {
      if (ticket !== self.sequence.venues) { return; }
      self.venueBox = key;
      self.venueLayer.clearLayers();
      var markers = [];
      features.forEach(function (f) {
        if (!f.geometry) { return; }
        var c = f.geometry.coordinates;
        var marker = L.circleMarker([c[1], c[0]], { radius: 6, color: "#ffffff", weight: 2,
          fillColor: "#00497a", fillOpacity: 1 });
        marker.bindPopup(function () { return self.venuePopup(f); });
        markers.push(marker);
      });
      if (self.venueLayer.addLayers) { self.venueLayer.addLayers(markers); }
      else { markers.forEach(function (m) { self.venueLayer.addLayer(m); }); }
      setText(note, "Points bleu foncé : lieux de la vue (" + fmtNumber(features.length) +
        (more ? ", les premiers seulement : zoomez pour les voir tous" : "") +
        "), regroupés quand ils sont proches.");
    }).catch(function () {
      if (ticket === self.sequence.venues) { self.say("Les lieux n'ont pas pu être chargés.", true); }
    });
  };

  CoverageMap.prototype.venuePopup = function (feature) {
    var p = feature.properties || {};
    var box = document.createElement("div");
    box.className = "venue-popup";
    var name = document.createElement("strong");
    name.textContent = p.nom || "Lieu";
    box.appendChild(name);
    if (p.commune) {
      box.appendChild(document.createElement("br"));
      box.appendChild(document.createTextNode(p.commune));
    }
    if (this.urls.venuePage && feature.id !== undefined) {
      box.appendChild(document.createElement("br"));
      var link = document.createElement("a");
      link.href = this.urls.venuePage + "/" + encodeURIComponent(feature.id);
      link.textContent = "Fiche du lieu";
      box.appendChild(link);
    }
    return box;
  };

  // ------------------------------------------------------------------ suggested sites

  CoverageMap.prototype.clearSites = function () {
    this.siteLayer.clearLayers();
    clear(byId("carte-sites"));
    byId("carte-comparaison").hidden = true;
    byId("carte-suite").hidden = true;
  };

  CoverageMap.prototype.suggestionWithin = function () {
    var layer = this.layerOf(this.selected);
    if (layer) {
      var p = layer.feature.properties;
      return LEVEL_PREFIX[p.level] + p.code;
    }
    return this.state().within;
  };

  CoverageMap.prototype.suggestionParams = function () {
    var s = this.state();
    var params = { within: this.suggestionWithin(), radius_km: byId("carte-rayon").value,
      candidates: byId("carte-candidats").value, programme: s.programme, service: s.service,
      need: s.need === "population" ? "" : s.need, site_capacity: byId("carte-capacite").value };
    if (byId("carte-mode-budget").checked) {
      params.budget = byId("carte-budget").value;
      params.site_cost = byId("carte-cout").value;
    } else {
      params.k = byId("carte-k").value;
    }
    return params;
  };

  CoverageMap.prototype.loadSuggestions = function () {
    var self = this;
    var L = window.L;
    var s = this.state();
    var params = this.suggestionParams();
    if (params.budget !== undefined) {
      if (!(+params.budget >= 1) || !(+params.site_cost >= 1)) {
        this.say("Indiquez un budget et un coût par site positifs (en euros).", true);
        return;
      }
    } else if (!(+params.k >= 1 && +params.k <= 50)) {
      this.say("Le nombre de sites doit être compris entre 1 et 50.", true);
      return;
    }
    var ticket = ++this.sequence.sites;
    this.say("Calcul des sites suggérés…");
    fetchJson(this.urls.suggestions + query(params), function (job) {
      if (ticket !== self.sequence.sites) { return; }
      var step = job.progress ? " (" + job.progress.done + "/" + job.progress.total + ")" : "";
      self.say("Calcul des sites suggérés : tâche " + job.state_label + step + "…");
    }).then(function (result) {
      if (ticket !== self.sequence.sites) { return; }
      self.clearSites();
      var list = byId("carte-sites");
      result.sites.forEach(function (site) {
        var label = "+" + fmtNumber(site.newly_covered_population) + " personnes à portée";
        // The number in the marker; the name and the gain in the list and on hover (no
        // permanent labels to overlap).
        var marker = L.marker([site.lat, site.lon], {
          pane: "sites", keyboard: true, title: site.rank + ". " + site.name + " : " + label,
          alt: site.name,
          icon: L.divIcon({ className: "site-marker", html: String(site.rank),
            iconSize: [26, 26] })
        });
        marker.bindTooltip(site.name + " : " + label, { direction: "right",
          className: "site-label", offset: [12, 0] });
        marker.addTo(self.siteLayer);
        var item = document.createElement("li");
        item.textContent = site.name + " (" + site.commune_name + ") : " + label;
        list.appendChild(item);
      });
      var figures = byId("carte-comparaison-valeurs");
      clear(figures);
      var base = result.baseline;
      var scenario = result.scenario || {};
      var n = result.sites.length;
      var last = n ? result.sites[n - 1] : null;
      var shareKey = s.need === "population" ? "share_population_covered" : "share_need_covered";
      var budgetText = "";
      if (scenario.budget) {
        budgetText = "Avec " + fmtNumber(scenario.budget) + " €, à " +
          fmtNumber(scenario.site_cost) + " € par site et " + fmtNumber(scenario.site_capacity) +
          " accompagnements par semaine par site : " + fmtNumber(result.k) +
          (result.k > 1 ? " sites" : " site") + " financés" +
          (n < result.k ? ", dont " + fmtNumber(n) + " utiles (les autres n'approcheraient personne de plus)" : "") + ".";
      }
      setText(byId("carte-comparaison-budget"), budgetText);
      addFigure(figures, "Territoire", result.within_name);
      addFigure(figures, "Aujourd'hui : part à moins de " + fmtNumber(result.radius_km) + " km",
        fmtShare(base[shareKey]));
      if (n) {
        setText(byId("carte-comparaison-titre"), "Aujourd'hui / avec " +
          (n === 1 ? "ce site" : "ces " + n + " sites"));
        addFigure(figures, n === 1 ? "Avec ce site" : "Avec ces " + n + " sites",
          fmtShare(last[shareKey + "_after"]));
        addFigure(figures, "Personnes nouvellement à portée",
          fmtNumber(scenario.newly_covered_population));
        addFigure(figures, "Écart de capacité comblé (accompagnements par semaine)",
          fmtSmall(scenario.capacity_gap_closed) + " sur " + fmtSmall(scenario.capacity_gap_before));
      } else {
        setText(byId("carte-comparaison-titre"), "Aujourd'hui");
        addFigure(figures, "Nouveaux sites", "aucun n'approcherait personne : tout le monde a " +
          "déjà un lieu à " + fmtNumber(result.radius_km) + " km");
      }
      byId("carte-comparaison").hidden = false;
      self.showNextSteps(params, result);
      self.say(n ? n + (n > 1 ? " sites suggérés dans " : " site suggéré dans ") +
        result.within_name + "." : "Aucun site ne mettrait de nouvelles personnes à portée dans " +
        result.within_name + ".");
    }).catch(function (error) {
      if (ticket === self.sequence.sites) {
        self.say("Les sites n'ont pas pu être proposés : " + error.message, true);
      }
    });
  };

  /* « Recalculer »: a refresh of the selection run by the background worker; the map
   * reloads its figures once the job is done. */
  CoverageMap.prototype.recompute = function () {
    var self = this;
    var s = this.state();
    var button = byId("carte-recalculer");
    button.disabled = true;
    fetchJson(this.urls.refresh + query({ within: s.within, programme: s.programme,
      service: s.service, need: s.need === "population" ? "" : s.need }), function (job) {
      var step = job.progress ? " (" + job.progress.done + "/" + job.progress.total + ")" : "";
      self.say("Recalcul : tâche " + job.state_label + step + "…");
    }, "POST", this.urls.csrf)
      .then(function () {
        self.say("Recalcul terminé : chiffres mis à jour.");
        self.rankingUrl = null;
        return self.loadRuns();
      }).catch(function (error) {
        self.say("Le recalcul n'a pas pu être fait : " + error.message, true);
      }).then(function () { button.disabled = false; });
  };

  /* The brief and the standalone map of the territory, with the same parameters. */
  CoverageMap.prototype.showNextSteps = function (params, result) {
    var box = byId("carte-suite");
    if (!this.urls.brief || result.within === "fr") { box.hidden = true; return; }
    var wanted = {};
    Object.keys(params).forEach(function (key) {
      if (key !== "candidates") { wanted[key] = params[key]; }
    });
    wanted.within = result.within;
    byId("carte-fiche").href = this.urls.brief + query(wanted);
    byId("carte-folium").href = this.urls.folium + query(wanted);
    box.hidden = false;
    // Both documents come from one background job: started now, its progress shown, the
    // links said ready once it is done (followed without a script, they wait for it too).
    var note = byId("carte-suite-etat");
    var ticket = this.sequence.sites;
    var self = this;
    setText(note, "Préparation de la fiche et de la carte…");
    fetchJson(this.urls.brief + query(wanted), function (job) {
      if (ticket !== self.sequence.sites) { return; }
      var step = job.progress ? " (" + Math.min(job.progress.done + 1, job.progress.total) +
        "/" + job.progress.total + " : " + job.progress.message + ")" : "";
      setText(note, "Préparation de la fiche et de la carte : tâche " + job.state_label + step + "…");
    }).then(function () {
      if (ticket === self.sequence.sites) { setText(note, "Fiche et carte prêtes."); }
    }).catch(function (error) {
      if (ticket === self.sequence.sites) {
        setText(note, "La fiche et la carte n'ont pas pu être préparées : " + error.message);
      }
    });
  };

  // ------------------------------------------------------------------ panel reset, ranking, labels

  CoverageMap.prototype.resetPanel = function () {
    this.selected = null;
    this.details = null;
    setText(byId("carte-panneau-titre"), "Choisissez un territoire");
    byId("carte-panneau-aide").hidden = false;
    byId("carte-panneau-actions").hidden = true;
    clear(byId("carte-panneau-valeurs"));
    setText(byId("carte-investir-territoire"), "");
  };

  /* « Les territoires les moins bien desservis »: one level below the study territory,
   * ranked by people without a venue within 20 km, then by the accessibility index. */
  CoverageMap.prototype.loadRanking = function () {
    var self = this;
    var s = this.state();
    var kind = s.within === "fr" ? "fr" : s.within.split(":")[0];
    var level = RANK_LEVEL[kind] || "departement";
    var list = byId("carte-classement-liste");
    var url = this.drawUrl(level, { within: s.within }, RANK_ZOOM[level]);
    if (this.rankingUrl === url) { return; }
    this.rankingUrl = url;
    fetchJson(url).then(function (collection) {
      if (self.rankingUrl !== url) { return; }
      clear(list);
      var ranked = collection.features.filter(function (f) {
        return (f.properties.population || 0) > 0;
      }).sort(function (a, b) {
        var p = a.properties;
        var q = b.properties;
        var byPeople = (q.uncovered_population_20km || 0) - (p.uncovered_population_20km || 0);
        if (byPeople) { return byPeople; }
        var pi = p.accessibility_index === null ? Infinity : p.accessibility_index;
        var qi = q.accessibility_index === null ? Infinity : q.accessibility_index;
        return pi - qi || (p.code < q.code ? -1 : 1);
      }).slice(0, RANK_SHOWN);
      setText(byId("carte-classement-titre"), RANK_TITLES[level]);
      ranked.forEach(function (feature) {
        var p = feature.properties;
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = "#carte-panneau";
        link.textContent = p.name;
        link.addEventListener("click", function (event) {
          event.preventDefault();
          self.focusTerritory(feature);
        });
        var figure = document.createElement("span");
        figure.className = "ranking-figure";
        figure.textContent = fmtNumber(p.uncovered_population_20km) +
          " personnes sans lieu à 20 km (" + fmtShare(p.share_population_covered_20km) +
          " à portée) · indice " + fmtDecimal(p.accessibility_index);
        item.appendChild(link);
        item.appendChild(figure);
        list.appendChild(item);
      });
    }).catch(function () {
      if (self.rankingUrl === url) { self.rankingUrl = null; clear(list); }
    });
  };

  /* Zoom to a territory of the ranked list, show its level, open its panel. */
  CoverageMap.prototype.focusTerritory = function (feature) {
    var p = feature.properties;
    this.controls.level.value = p.level;
    this.writeState();
    this.shownLevel = this.levelForZoom() === p.level ? p.level : null;
    this.selected = p.code;
    var bounds = window.L.geoJSON(feature).getBounds();
    if (bounds.isValid()) {
      this.map.fitBounds(bounds, { padding: [24, 24], animate: false,
        maxZoom: p.level === "commune" ? 12 : 11 });
    }
    this.shownLevel = this.levelForZoom();
    this.loadTerritories(true);
    this.selected = p.code;
    this.renderPanel(feature.properties, true);
    this.showPanel(feature, false);
  };

  /* Names of the territories drawn, where they fit inside their territory at this zoom,
   * largest first, never over a name already placed (leaflet-fr.js's placeLabels). */
  CoverageMap.prototype.placeLabels = function () {
    var layers = this.territoryLayer.getLayers();
    if (!layers.length || layers.length > LABEL_MAX) {
      this.labelLayer.clearLayers();
      return;
    }
    window.Passerelle.placeLabels(this.map, this.labelLayer, layers.map(function (layer) {
      return {
        name: layer.feature.properties.name || "",
        bounds: layer.getBounds(),
        centre: function () {
          try { return layer.getCenter(); } catch (e) { return layer.getBounds().getCenter(); }
        }
      };
    }));
  };

  function init() {
    var element = byId("carte-couverture");
    if (!element) { return; }
    if (typeof window.L === "undefined") {
      setText(byId("carte-statut"), "La bibliothèque cartographique n'est pas installée " +
        "(lancez « make assets ») : utilisez les exports CSV de l'API.");
      return;
    }
    new CoverageMap(element).start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
