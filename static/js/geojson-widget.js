/* Admin geometry widgets (see zones/widgets.py).
 *
 * [data-geojson-widget]: a map of the GeoJSON (Multi)Polygon in the textarea next to it
 * (or, read-only, in a json_script child). When editable and Leaflet.draw is loaded,
 * polygons can be drawn, reshaped and removed on the map, and the text follows; typing in
 * the text redraws the map. The server checks the text when the form is saved.
 *
 * [data-point-picker]: a map under the latitude/longitude inputs; clicking the map or
 * dragging the marker sets them, typing in them moves the marker.
 */
(function () {
  "use strict";

  var CM = window.CeasefireMap;

  var SHAPE_STYLE = {
    color: "#1f63a8",
    weight: 2,
    fillColor: "#1f63a8",
    fillOpacity: 0.18
  };

  function round(value) {
    return Math.round(value * 100000) / 100000;
  }

  function debounce(fn, wait) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, wait);
    };
  }

  function parse(text) {
    if (!text || !text.trim()) {
      return { empty: true };
    }
    try {
      return { value: JSON.parse(text) };
    } catch (error) {
      return { error: "The text is not valid JSON yet: " + error.message };
    }
  }

  /* [[ring, ring...], ...] in [lon, lat], or null. */
  function polygonsOf(value) {
    if (value && value.type === "Feature") {
      value = value.geometry;
    }
    if (!value || !Array.isArray(value.coordinates)) {
      return null;
    }
    if (value.type === "Polygon") {
      return [value.coordinates];
    }
    if (value.type === "MultiPolygon") {
      return value.coordinates;
    }
    return null;
  }

  function toLatLngs(rings) {
    return rings.map(function (ring) {
      return ring
        .filter(function (position) {
          return Array.isArray(position) && position.length >= 2;
        })
        .map(function (position) {
          return [position[1], position[0]];
        });
    });
  }

  function ringsOf(layer) {
    var latlngs = layer.getLatLngs();
    var polygons = L.LineUtil.isFlat(latlngs) ? [[latlngs]] : latlngs;
    if (polygons.length && L.LineUtil.isFlat(polygons[0])) {
      polygons = [polygons];
    }
    return polygons.map(function (rings) {
      return rings.map(function (ring) {
        var coords = ring.map(function (latlng) {
          return [round(latlng.lng), round(latlng.lat)];
        });
        if (coords.length) {
          coords.push(coords[0].slice());
        }
        return coords;
      });
    });
  }

  function formatMultiPolygon(polygons) {
    var blocks = polygons.map(function (rings) {
      return (
        " [\n" +
        rings
          .map(function (ring) {
            return "  " + JSON.stringify(ring).replace(/,(?=-?\d)/g, ", ").replace(/\],\[/g, "], [");
          })
          .join(",\n") +
        "\n ]"
      );
    });
    return '{"type": "MultiPolygon", "coordinates": [\n' + blocks.join(",\n") + "\n]}";
  }

  function keepSized(map, node) {
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        map.invalidateSize();
      }).observe(node);
    }
  }

  /* Zones and security areas, faint and not clickable, behind the widget's own shape. */
  function drawContext(map, root) {
    var node = root.querySelector('[data-role="context"] script');
    if (!node) {
      return;
    }
    L.geoJSON(JSON.parse(node.textContent), {
      interactive: false,
      style: function (feature) {
        var kind = feature.properties && feature.properties.layer;
        return {
          className: "context-shape",
          color: kind === "security_area" ? CM.colour("--security-area") : "#2e7d4f",
          weight: 1.2,
          dashArray: kind === "security_area" ? "5 4" : null,
          fillOpacity: 0.06
        };
      }
    }).addTo(map);
  }

  function setupGeometry(root) {
    var mapNode = root.querySelector(".geojson-widget__map");
    var textarea = root.querySelector("textarea");
    var dataNode = root.querySelector('[data-role="shape"] script');
    var status = root.querySelector(".geojson-widget__status");
    var editable = root.getAttribute("data-editable") === "true" && Boolean(textarea);
    var map = CM.createMap(mapNode, {});
    drawContext(map, root);
    var shapes = L.featureGroup().addTo(map);
    keepSized(map, mapNode);

    function say(text, isError) {
      if (status) {
        status.textContent = text || "";
        status.classList.toggle("is-error", Boolean(isError));
      }
    }

    function draw(value, fit) {
      shapes.clearLayers();
      var polygons = polygonsOf(value);
      if (!polygons) {
        say("The text is not a GeoJSON Polygon or MultiPolygon: the map cannot show it.", true);
        return;
      }
      polygons.forEach(function (rings) {
        var layer = L.polygon(toLatLngs(rings), SHAPE_STYLE);
        shapes.addLayer(layer);
      });
      var count = polygons.length;
      say(count + " polygon" + (count === 1 ? "" : "s") + " on the map." +
        (editable ? " Draw, reshape or remove them with the tools on the map." : ""));
      if (fit && shapes.getLayers().length) {
        map.fitBounds(shapes.getBounds().pad(0.25));
      }
    }

    function showText(text, fit) {
      var parsed = parse(text);
      if (parsed.empty) {
        shapes.clearLayers();
        say(editable ? "No shape yet: draw one with the polygon tool, or paste GeoJSON below." : "");
        return;
      }
      if (parsed.error) {
        say(parsed.error + " The map shows the last shape that could be read.", true);
        return;
      }
      draw(parsed.value, fit);
    }

    function writeBack() {
      var polygons = [];
      shapes.eachLayer(function (layer) {
        polygons = polygons.concat(ringsOf(layer));
      });
      textarea.value = polygons.length ? formatMultiPolygon(polygons) : "";
      textarea.dispatchEvent(new Event("change", { bubbles: true }));
      var count = polygons.length;
      say(count ? count + " polygon" + (count === 1 ? "" : "s") + " drawn; the text below follows the map."
        : "No shape: draw one with the polygon tool.");
    }

    if (textarea) {
      showText(textarea.value, true);
      // The text is folded away under the map, unless it has to be corrected.
      var details = root.querySelector(".geojson-widget__source");
      if (details && (root.closest(".errors") || parse(textarea.value).error)) {
        details.open = true;
      }
    } else if (dataNode) {
      draw(JSON.parse(dataNode.textContent), true);
    }

    if (editable) {
      textarea.addEventListener("input", debounce(function () {
        showText(textarea.value, true);
      }, 400));
      if (L.Control && L.Control.Draw) {
        map.addControl(new L.Control.Draw({
          position: "topleft",
          draw: {
            polygon: { allowIntersection: false, showArea: false, shapeOptions: SHAPE_STYLE },
            polyline: false,
            rectangle: false,
            circle: false,
            circlemarker: false,
            marker: false
          },
          edit: { featureGroup: shapes, remove: true }
        }));
        map.on(L.Draw.Event.CREATED, function (event) {
          shapes.addLayer(event.layer);
          writeBack();
        });
        map.on(L.Draw.Event.EDITED, writeBack);
        map.on(L.Draw.Event.DELETED, writeBack);
      }
    }
  }

  function setupPoint(root) {
    var mapNode = root.querySelector(".point-picker__map");
    var latInput = document.getElementById(root.getAttribute("data-latitude-input"));
    var lonInput = document.getElementById(root.getAttribute("data-longitude-input"));
    var map = CM.createMap(mapNode, {});
    keepSized(map, mapNode);
    drawContext(map, root);
    var marker = null;

    function current() {
      var lat = parseFloat(latInput && latInput.value);
      var lon = parseFloat(lonInput && lonInput.value);
      return isFinite(lat) && isFinite(lon) ? L.latLng(lat, lon) : null;
    }

    function place(latlng, pan) {
      if (!latlng) {
        return;
      }
      if (!marker) {
        marker = L.marker(latlng, {
          draggable: Boolean(latInput && !latInput.readOnly),
          icon: L.divIcon({ className: "picker-marker", iconSize: [16, 16] })
        }).addTo(map);
        marker.on("dragend", function () {
          write(marker.getLatLng());
        });
      } else {
        marker.setLatLng(latlng);
      }
      if (pan) {
        map.setView(latlng, Math.max(map.getZoom(), 8));
      }
    }

    function write(latlng) {
      if (!latInput || !lonInput) {
        return;
      }
      latInput.value = round(latlng.lat);
      lonInput.value = round(latlng.lng);
      latInput.dispatchEvent(new Event("change", { bubbles: true }));
      lonInput.dispatchEvent(new Event("change", { bubbles: true }));
    }

    place(current(), true);
    if (latInput && lonInput && !latInput.readOnly) {
      map.on("click", function (event) {
        place(event.latlng, false);
        write(event.latlng);
      });
      [latInput, lonInput].forEach(function (input) {
        input.addEventListener("input", debounce(function () {
          place(current(), true);
        }, 400));
      });
    }
  }

  function init(scope) {
    var root = scope || document;
    Array.prototype.forEach.call(root.querySelectorAll("[data-geojson-widget]"), function (node) {
      if (!node.closest(".empty-form") && !node._ready) {
        node._ready = true;
        setupGeometry(node);
      }
    });
    Array.prototype.forEach.call(root.querySelectorAll("[data-point-picker]"), function (node) {
      if (!node._ready) {
        node._ready = true;
        setupPoint(node);
      }
    });
  }

  document.addEventListener("formset:added", function (event) {
    init(event.target);
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      init();
    });
  } else {
    init();
  }
})();
