/* The reports map: the reports the user may see, with the page's filters.
 *
 * <div data-map="reports" data-map-config="ID">: the config (json_script) carries the zones
 * for the backdrop, the labels and ``data_url`` (/reports/map/data/ with the filters); the
 * reports come from there as GeoJSON points. Markers: colour by kind, hollow until verified,
 * faded when rejected or retracted. Popups are built with textContent (CeasefireMap.popupContent),
 * never from HTML strings, so nothing typed into a report can inject markup.
 */
(function () {
  "use strict";

  var KIND_COLOURS = {
    violation: "--report-violation",
    convoy: "--report-convoy",
    checkpoint: "--report-checkpoint"
  };
  var FALLBACK = { violation: "#b3261e", convoy: "#1f63a8", checkpoint: "#7b2d8e" };

  function kindColour(kind) {
    var value = getComputedStyle(document.documentElement)
      .getPropertyValue(KIND_COLOURS[kind] || "")
      .trim();
    return value || FALLBACK[kind] || "#555";
  }

  function label(config, group, value) {
    var table = (config.report_labels && config.report_labels[group]) || {};
    return table[value] || value;
  }

  /* A moment as the center's local time (the time zone every page shows). */
  function formatMoment(iso, timeZone) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) {
      return iso;
    }
    var options = {
      day: "numeric",
      month: "short",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit"
    };
    if (timeZone) {
      options.timeZone = timeZone;
    }
    try {
      return date.toLocaleString("en-GB", options);
    } catch (error) {
      delete options.timeZone;
      return date.toLocaleString("en-GB", options);
    }
  }

  function markerStyle(p) {
    var colour = kindColour(p.kind);
    var closed = p.status === "rejected" || p.status === "retracted";
    var verified = p.status === "verified";
    return {
      className: "report-marker report-marker--" + p.kind + " report-marker--" + p.status,
      radius: verified ? 7 : 6,
      color: colour,
      weight: 2,
      opacity: closed ? 0.45 : 0.95,
      dashArray: p.status === "disputed" ? "3 2" : null,
      fillColor: colour,
      fillOpacity: verified ? 0.85 : closed ? 0.1 : 0.25
    };
  }

  function reportsLayer(collection, config) {
    return L.geoJSON(collection, {
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, markerStyle(feature.properties));
      },
      onEachFeature: function (feature, layer) {
        var p = feature.properties;
        var rows = [
          ["Status", label(config, "status", p.status)],
          ["Category", p.category ? label(config, "category", p.category) : null],
          ["Occurred", formatMoment(p.occurred, config.time_zone)]
        ];
        layer.bindPopup(
          window.CeasefireMap.popupContent(label(config, "kind", p.kind), p.reference, rows, {
            href: p.url,
            text: "Open report →"
          })
        );
        layer.bindTooltip(p.reference, { direction: "top", opacity: 0.9 });
      }
    });
  }

  function zonesBackdrop(collection) {
    var features = ((collection && collection.features) || []).filter(function (f) {
      return f.geometry;
    });
    return L.geoJSON(
      { type: "FeatureCollection", features: features },
      {
        pane: "zones",
        interactive: false,
        style: {
          className: "zone-shape",
          color: window.CeasefireMap.colour("--zone-active"),
          weight: 1.5,
          opacity: 0.7,
          fillOpacity: 0.06
        }
      }
    );
  }

  function setStatus(text) {
    var node = document.getElementById("report-map-status");
    if (node) {
      node.textContent = text;
    }
  }

  function init(container, config) {
    var map = window.CeasefireMap.createMap(container, config);
    zonesBackdrop(config.zones).addTo(map);
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    fetch(config.data_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("The reports could not be loaded (" + response.status + ").");
        }
        return response.json();
      })
      .then(function (collection) {
        var layer = reportsLayer(collection, config).addTo(map);
        var count = collection.features.length;
        var text = count + " report" + (count === 1 ? "" : "s") + " on the map";
        if (collection.truncated) {
          text += " (the newest " + collection.limit + "; narrow the filters to see the rest)";
        }
        var bounds = layer.getBounds();
        if (count && bounds.isValid()) {
          // No animation: the markers are where they stay once the map says it is ready.
          map.fitBounds(bounds.pad(0.2), { maxZoom: 11, animate: false });
        }
        setStatus(text + ".");
        container.classList.add("map--ready");
      })
      .catch(function (error) {
        setStatus(error.message);
        container.classList.add("map--ready");
      });
    return map;
  }

  function initAll() {
    var containers = document.querySelectorAll("[data-map='reports']");
    Array.prototype.forEach.call(containers, function (container) {
      var config = window.CeasefireMap.readJSON(container.getAttribute("data-map-config"));
      if (config && !container._ceasefireMap) {
        container._ceasefireMap = init(container, config);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initAll);
  } else {
    initAll();
  }
})();
