/* The zone maps of the home page and the zone page.
 *
 * Every map is a <div data-map="..." data-map-config="ID">: the page passes its data with
 * Django's json_script (element ID), so there is no inline script (ready for a
 * Content-Security-Policy). Popups are built with DOM nodes and textContent, never from
 * HTML strings, so names typed into the admin cannot inject markup.
 *
 * Also used by the admin's geometry widgets for the backdrop (CeasefireMap.createMap).
 */
(function () {
  "use strict";

  var backdrop = window.CeasefireBackdrop || null;
  var SYRIA_BOUNDS = backdrop ? backdrop.bounds : [[32.3, 35.6], [37.35, 42.4]];

  var FALLBACK_COLOURS = {
    "--map-land": "#fbfaf6",
    "--map-border": "#9aa7b3",
    "--zone-active": "#2e7d4f",
    "--zone-suspended": "#d9822b",
    "--zone-proposed": "#3b73b9",
    "--zone-expired": "#8a949e",
    "--security-area": "#c79a00",
    "--excluded-area": "#b3261e",
    "--settlement": "#5d6975"
  };

  function colour(name) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || FALLBACK_COLOURS[name] || "#555";
  }

  function readJSON(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  /* A popup: a small kind line, a title, rows of [label, value], an optional link. */
  function popupContent(kind, title, rows, link) {
    var root = element("div", "popup");
    root.appendChild(element("div", "popup__kind", kind));
    root.appendChild(element("div", "popup__title", title));
    var list = element("dl", "popup__rows");
    rows.forEach(function (row) {
      if (row[1] === undefined || row[1] === null || row[1] === "") {
        return;
      }
      list.appendChild(element("dt", null, row[0]));
      list.appendChild(element("dd", null, row[1]));
    });
    root.appendChild(list);
    if (link) {
      var anchor = element("a", "popup__link", link.text);
      anchor.href = link.href;
      root.appendChild(anchor);
    }
    return root;
  }

  function label(labels, group, value) {
    var table = (labels && labels[group]) || {};
    return table[value] || value;
  }

  function formatNumber(value) {
    return value === null || value === undefined ? null : Number(value).toLocaleString("en");
  }

  function withGeometry(collection) {
    var features = (collection && collection.features) || [];
    return {
      type: "FeatureCollection",
      features: features.filter(function (feature) {
        return feature.geometry;
      })
    };
  }

  function addPane(map, name, zIndex) {
    var pane = map.createPane(name);
    pane.style.zIndex = zIndex;
    return name;
  }

  /* A text label on the map (a country or a city), set as text, not HTML. */
  function labelMarker(latlng, text, className, anchor) {
    var marker = L.marker(latlng, {
      pane: "labels",
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: className, html: "", iconSize: null, iconAnchor: anchor })
    });
    marker.on("add", function () {
      marker.getElement().textContent = text;
    });
    return marker;
  }

  /* A Leaflet map with the plain background (or the configured tile server). */
  function createMap(container, options) {
    options = options || {};
    var map = L.map(container, {
      zoomSnap: 0.25,
      minZoom: 5,
      maxZoom: 16,
      attributionControl: Boolean(options.tile && options.tile.url),
      worldCopyJump: false
    });
    map.fitBounds(options.bounds || SYRIA_BOUNDS);
    addPane(map, "backdrop", 250);
    addPane(map, "zones", 410);
    addPane(map, "security", 420);
    addPane(map, "excluded", 430);
    addPane(map, "settlements", 440);
    addPane(map, "labels", 450);
    map.getPane("labels").style.pointerEvents = "none";

    if (options.tile && options.tile.url) {
      L.tileLayer(options.tile.url, {
        attribution: options.tile.attribution || "",
        maxZoom: 16
      }).addTo(map);
    }
    if (backdrop) {
      var hasTiles = Boolean(options.tile && options.tile.url);
      L.geoJSON(backdrop.outline, {
        pane: "backdrop",
        interactive: false,
        style: {
          className: "backdrop-shape",
          color: colour("--map-border"),
          weight: 1.2,
          fill: !hasTiles,
          fillColor: colour("--map-land"),
          fillOpacity: 1
        }
      }).addTo(map);
      if (!hasTiles) {
        backdrop.countries.forEach(function (country) {
          labelMarker(country.latlng, country.name, "country-label").addTo(map);
        });
      }
    }
    return map;
  }

  function citiesLayer() {
    var group = L.layerGroup();
    if (!backdrop) {
      return group;
    }
    backdrop.cities.forEach(function (city) {
      group.addLayer(labelMarker(city.latlng, city.name, "city-label", [4, 8]));
    });
    return group;
  }

  function zoneColour(status) {
    return colour("--zone-" + (status || "proposed"));
  }

  function zonesLayer(collection, config, options) {
    options = options || {};
    return L.geoJSON(withGeometry(collection), {
      pane: "zones",
      style: function (feature) {
        var status = feature.properties.status;
        var highlighted = options.highlight && feature.properties.code === options.highlight;
        return {
          className: "zone-shape zone-status-" + status + " zone-" + feature.properties.code,
          color: zoneColour(status),
          weight: highlighted ? 3 : 2,
          opacity: 0.95,
          dashArray: status === "expired" ? "2 4" : null,
          fillColor: zoneColour(status),
          fillOpacity: options.highlight && !highlighted ? 0.06 : 0.2
        };
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        var rows = [
          ["Status", label(config.labels, "zone_status", p.status)],
          ["In force now", p.in_force ? "Yes" : "No"],
          ["Agreement", label(config.labels, "agreements", p.agreement)],
          [
            "Governorates",
            (p.governorates || [])
              .map(function (g) {
                return label(config.labels, "governorate", g);
              })
              .join(", ")
          ],
          ["Lines", p.boundary_revision ? "revision " + p.boundary_revision : null]
        ];
        var link = config.zone_url
          ? { href: config.zone_url.replace("__code__", p.code), text: "Open zone page →" }
          : null;
        layer.bindPopup(popupContent("De-escalation zone", p.name, rows, link));
        layer.bindTooltip(p.name, { sticky: true, direction: "top", opacity: 0.9 });
      }
    });
  }

  function revisionsLayer(collection) {
    return L.geoJSON(withGeometry(collection), {
      pane: "zones",
      interactive: false,
      style: {
        className: "zone-revision-shape",
        color: "#6b7580",
        weight: 1.5,
        dashArray: "6 5",
        fill: false
      }
    });
  }

  function securityAreasLayer(collection, config) {
    return L.geoJSON(withGeometry(collection), {
      pane: "security",
      style: {
        className: "security-area-shape",
        color: colour("--security-area"),
        weight: 1.5,
        dashArray: "5 4",
        fillColor: colour("--security-area"),
        fillOpacity: 0.18
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindPopup(
          popupContent("Security area", p.name, [
            ["Zone", label(config.labels, "zones", p.zone)],
            ["Lines", label(config.labels, "derivation", p.derivation)]
          ])
        );
      }
    });
  }

  function excludedAreasLayer(collection, config) {
    return L.geoJSON(withGeometry(collection), {
      pane: "excluded",
      style: {
        className: "excluded-area-shape",
        color: colour("--excluded-area"),
        weight: 1.5,
        dashArray: "3 4",
        fillColor: colour("--excluded-area"),
        fillOpacity: 0.25
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindPopup(
          popupContent("Excluded area · outside the ceasefire", p.name, [
            ["Held by", label(config.labels, "parties", p.group)],
            ["Registered", p.registered_on]
          ])
        );
      }
    });
  }

  function postsLayer(collection, config, kind) {
    var features = withGeometry(collection).features.filter(function (feature) {
      return !kind || feature.properties.kind === kind;
    });
    return L.geoJSON(
      { type: "FeatureCollection", features: features },
      {
        pointToLayer: function (feature, latlng) {
          var p = feature.properties;
          var size = p.kind === "checkpoint" ? 11 : 13;
          return L.marker(latlng, {
            title: p.name,
            alt: p.name,
            riseOnHover: true,
            icon: L.divIcon({
              className:
                "post-marker post-marker--" + p.kind + " post-marker--" + p.status,
              iconSize: [size, size],
              html: ""
            })
          });
        },
        onEachFeature: function (feature, layer) {
          var p = feature.properties;
          var rows = [
            ["Status", label(config.labels, "post_status", p.status)],
            ["Zone", label(config.labels, "zones", p.zone)],
            ["Operated by", label(config.labels, "parties", p.operating_party)]
          ];
          if (p.kind === "checkpoint") {
            rows.push(["Serves", (p.purposes || []).join(", ") || "not stated"]);
          }
          layer.bindPopup(popupContent(label(config.labels, "post_kind", p.kind), p.name, rows));
        }
      }
    );
  }

  function settlementsLayer(collection, config) {
    return L.geoJSON(withGeometry(collection), {
      pointToLayer: function (feature, latlng) {
        var population = feature.properties.population || 0;
        var radius = Math.max(3, Math.min(11, 2 + Math.sqrt(population) / 45));
        return L.circleMarker(latlng, {
          pane: "settlements",
          className: "settlement-shape",
          radius: radius,
          color: "#ffffff",
          weight: 1,
          fillColor: colour("--settlement"),
          fillOpacity: 0.85
        });
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        layer.bindPopup(
          popupContent("Settlement", p.name, [
            ["Governorate", label(config.labels, "governorate", p.governorate)],
            ["Population", formatNumber(p.population)],
            [
              "Reconciliation",
              label(config.labels, "reconciliation_status", p.reconciliation_status)
            ]
          ])
        );
        layer.bindTooltip(p.name, { direction: "top", offset: [0, -4], opacity: 0.9 });
      }
    });
  }

  function layersControl(map, overlays, collapsed) {
    var narrow = window.matchMedia && window.matchMedia("(max-width: 640px)").matches;
    return L.control
      .layers(null, overlays, { collapsed: Boolean(collapsed || narrow), position: "topright" })
      .addTo(map);
  }

  function initOverview(container, config) {
    var map = createMap(container, config);
    var zones = zonesLayer(config.zones, config).addTo(map);
    var security = securityAreasLayer(config.security_areas, config).addTo(map);
    var excluded = excludedAreasLayer(config.excluded_areas, config).addTo(map);
    var observationPosts = postsLayer(config.posts, config, "observation_post").addTo(map);
    var checkpoints = postsLayer(config.posts, config, "checkpoint").addTo(map);
    var settlements = settlementsLayer(config.settlements, config);
    var cities = citiesLayer().addTo(map);
    layersControl(map, {
      "De-escalation zones": zones,
      "Security areas": security,
      "Excluded areas (ISIS, Nusra)": excluded,
      "Observation posts": observationPosts,
      Checkpoints: checkpoints,
      Settlements: settlements,
      Cities: cities
    });
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    container.classList.add("map--ready");
    return map;
  }

  function initZone(container, config) {
    var map = createMap(container, config);
    var zones = zonesLayer(config.zones, config, { highlight: config.zone }).addTo(map);
    var revisions = revisionsLayer(config.revisions);
    var security = securityAreasLayer(config.security_areas, config).addTo(map);
    var excluded = excludedAreasLayer(config.excluded_areas, config).addTo(map);
    var observationPosts = postsLayer(config.posts, config, "observation_post").addTo(map);
    var checkpoints = postsLayer(config.posts, config, "checkpoint").addTo(map);
    var settlements = settlementsLayer(config.settlements, config).addTo(map);
    var cities = citiesLayer().addTo(map);
    layersControl(map, {
      "Zones (this one highlighted)": zones,
      "Earlier lines": revisions,
      "Security areas": security,
      "Excluded areas (ISIS, Nusra)": excluded,
      "Observation posts": observationPosts,
      Checkpoints: checkpoints,
      Settlements: settlements,
      Cities: cities
    }, true);
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    var focus = null;
    zones.eachLayer(function (layer) {
      if (layer.feature.properties.code === config.zone) {
        focus = layer.getBounds();
      }
    });
    if (focus && focus.isValid()) {
      map.fitBounds(focus.pad(0.15));
    }
    container.classList.add("map--ready");
    return map;
  }

  var initialisers = { overview: initOverview, zone: initZone };

  function initAll() {
    var containers = document.querySelectorAll("[data-map]");
    Array.prototype.forEach.call(containers, function (container) {
      var init = initialisers[container.getAttribute("data-map")];
      var config = readJSON(container.getAttribute("data-map-config"));
      if (init && config && !container._ceasefireMap) {
        container._ceasefireMap = init(container, config);
      }
    });
  }

  window.CeasefireMap = {
    createMap: createMap,
    colour: colour,
    readJSON: readJSON,
    popupContent: popupContent,
    syriaBounds: SYRIA_BOUNDS,
    initAll: initAll
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initAll);
  } else {
    initAll();
  }
})();
