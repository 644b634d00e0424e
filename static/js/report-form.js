/* The filing page (incidents/report_form.html).
 *
 * - A Leaflet map of the zones, their security and excluded areas and the center's posts;
 *   clicking the map (or dragging the marker) sets the latitude and longitude inputs, and
 *   typing them moves the marker.
 * - As the point (or the time) changes, debounced, the point is classified by
 *   /api/v1/classify/ and the zone, in-force state, security area, excluded-area status and
 *   nearest settlement are shown; the nearest settlement can fill the settlement field.
 * - Choosing the post (or checkpoint) the report was made from places an empty point there.
 * - "Add a row" on a formset clones its empty form.
 *
 * Everything shown is built with DOM nodes and textContent: names never become markup.
 */
(function () {
  "use strict";

  var CM = window.CeasefireMap;

  function debounce(fn, wait) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fn.apply(null, args);
      }, wait);
    };
  }

  function round(value) {
    return Math.round(value * 100000) / 100000;
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

  /* The UTC offset (ms) of time zone ``tz`` at the instant ``ms``. */
  function zoneOffset(ms, tz) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit"
    })
      .formatToParts(new Date(ms))
      .forEach(function (part) {
        parts[part.type] = part.value;
      });
    var asUTC = Date.UTC(
      Number(parts.year),
      Number(parts.month) - 1,
      Number(parts.day),
      Number(parts.hour) % 24,
      Number(parts.minute),
      Number(parts.second)
    );
    return asUTC - (ms - (ms % 1000));
  }

  /* A datetime-local value read in the center's time zone, as an ISO instant (or null). */
  function localToISO(value, tz) {
    var match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
    if (!match) {
      return null;
    }
    var guess = Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]);
    if (!tz) {
      return new Date(guess).toISOString();
    }
    try {
      var offset = zoneOffset(guess, tz);
      var instant = guess - offset;
      var second = zoneOffset(instant, tz);
      if (second !== offset) {
        instant = guess - second;
      }
      return new Date(instant).toISOString();
    } catch (error) {
      return null;
    }
  }

  /* --- The map ------------------------------------------------------------------------ */

  function drawContext(map, config) {
    var features = function (collection) {
      return ((collection && collection.features) || []).filter(function (feature) {
        return feature.geometry;
      });
    };
    L.geoJSON({ type: "FeatureCollection", features: features(config.zones) }, {
      interactive: false,
      style: function (feature) {
        var status = feature.properties.status || "proposed";
        return {
          className: "zone-shape zone-" + feature.properties.code,
          color: CM.colour("--zone-" + status),
          weight: 2,
          fillColor: CM.colour("--zone-" + status),
          fillOpacity: 0.15
        };
      }
    }).addTo(map);
    L.geoJSON({ type: "FeatureCollection", features: features(config.security_areas) }, {
      interactive: false,
      style: {
        className: "security-area-shape",
        color: CM.colour("--security-area"),
        weight: 1.2,
        dashArray: "5 4",
        fillColor: CM.colour("--security-area"),
        fillOpacity: 0.15
      }
    }).addTo(map);
    L.geoJSON({ type: "FeatureCollection", features: features(config.excluded_areas) }, {
      interactive: false,
      style: {
        className: "excluded-area-shape",
        color: CM.colour("--excluded-area"),
        weight: 1.2,
        dashArray: "3 4",
        fillColor: CM.colour("--excluded-area"),
        fillOpacity: 0.22
      }
    }).addTo(map);
    L.geoJSON({ type: "FeatureCollection", features: features(config.posts) }, {
      pointToLayer: function (feature, latlng) {
        var p = feature.properties;
        return L.marker(latlng, {
          interactive: false,
          keyboard: false,
          icon: L.divIcon({
            className: "post-marker post-marker--" + p.kind + " post-marker--" + p.status,
            iconSize: [10, 10],
            html: ""
          })
        });
      }
    }).addTo(map);
  }

  function setupMap(form, onMove) {
    var node = form.ownerDocument.querySelector("[data-report-map]");
    var config = CM.readJSON(node && node.getAttribute("data-report-map")) || {};
    var lat = form.querySelector("[name=latitude]");
    var lon = form.querySelector("[name=longitude]");
    if (!node || !lat || !lon) {
      return { place: function () {} };
    }
    var map = CM.createMap(node, config);
    drawContext(map, config);
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    var marker = null;

    function current() {
      var a = parseFloat(lat.value);
      var b = parseFloat(lon.value);
      return isFinite(a) && isFinite(b) ? L.latLng(a, b) : null;
    }

    function place(latlng, pan) {
      if (!latlng) {
        return;
      }
      if (!marker) {
        marker = L.marker(latlng, {
          draggable: true,
          title: "The report's point",
          alt: "The report's point",
          icon: L.divIcon({ className: "report-marker", iconSize: [18, 18] })
        }).addTo(map);
        marker.on("dragend", function () {
          write(marker.getLatLng());
        });
      } else {
        marker.setLatLng(latlng);
      }
      if (pan) {
        map.setView(latlng, Math.max(map.getZoom(), 9));
      }
    }

    function write(latlng) {
      lat.value = round(latlng.lat);
      lon.value = round(latlng.lng);
      onMove();
    }

    map.on("click", function (event) {
      place(event.latlng, false);
      write(event.latlng);
    });
    var typed = debounce(function () {
      place(current(), true);
      onMove();
    }, 400);
    lat.addEventListener("input", typed);
    lon.addEventListener("input", typed);
    place(current(), true);
    node._reportMap = map;
    node.classList.add("map--ready");

    return {
      config: config,
      empty: function () {
        return !current();
      },
      set: function (latitude, longitude) {
        lat.value = round(latitude);
        lon.value = round(longitude);
        place(L.latLng(latitude, longitude), true);
        onMove();
      }
    };
  }

  /* --- The live classification -------------------------------------------------------- */

  function row(list, label, value, className) {
    var dt = element("dt", null, label);
    var dd = element("dd", className || null);
    if (value instanceof Node) {
      dd.appendChild(value);
    } else {
      dd.textContent = value;
    }
    list.appendChild(dt);
    list.appendChild(dd);
    return dd;
  }

  function showClassification(panel, data, form) {
    panel.textContent = "";
    panel.classList.remove("classification--loading");
    var list = element("dl", "classification__rows");
    var zone = data.zone;
    var zoneNode = element("span", null, zone ? zone.name : "Outside every de-escalation zone");
    zoneNode.setAttribute("data-testid", "classified-zone");
    row(list, "Zone", zoneNode);
    if (zone) {
      var badge = element(
        "span",
        "badge " + (zone.in_force ? "badge--in-force" : "badge--not-in-force"),
        zone.in_force ? "Ceasefire in force" : "Ceasefire not in force"
      );
      badge.setAttribute("data-testid", "classified-in-force");
      row(list, "At that time", badge);
    }
    row(
      list,
      "Security area",
      data.in_security_area
        ? "Inside: " +
            (data.security_areas || [])
              .map(function (area) {
                return area.name;
              })
              .join(", ")
        : "Outside"
    );
    if (data.nearest_settlement) {
      var s = data.nearest_settlement;
      var wrap = element("span");
      wrap.appendChild(
        element("span", null, s.name + " (" + Number(s.distance_km).toFixed(1) + " km)")
      );
      var select = form.querySelector("select[name=settlement]");
      var option = select && select.querySelector('option[value="' + String(s.id) + '"]');
      if (option && select.value !== String(s.id)) {
        var use = element("button", "btn btn--ghost btn--small", "Use as the settlement");
        use.type = "button";
        use.addEventListener("click", function () {
          select.value = String(s.id);
          select.dispatchEvent(new Event("change", { bubbles: true }));
          use.remove();
        });
        wrap.appendChild(document.createTextNode(" "));
        wrap.appendChild(use);
      }
      row(list, "Nearest settlement", wrap);
    }
    panel.appendChild(list);
    if (data.in_excluded_area) {
      var warning = element("div", "classification__warning");
      warning.setAttribute("role", "alert");
      warning.setAttribute("data-testid", "classified-excluded");
      var groups = (data.excluded_areas || [])
        .map(function (area) {
          return area.name + (area.group ? " (" + area.group.name + ")" : "");
        })
        .join(", ");
      warning.appendChild(
        element(
          "strong",
          null,
          "Inside an area held by ISIS/Nusra: outside the ceasefire, counted apart."
        )
      );
      if (groups) {
        warning.appendChild(element("span", null, " " + groups + "."));
      }
      panel.appendChild(warning);
    }
  }

  function showProblem(panel, text) {
    panel.textContent = "";
    panel.classList.remove("classification--loading");
    panel.appendChild(element("p", "classification__problem", text));
  }

  function setupClassification(form) {
    var panel = document.getElementById("classification");
    var url = form.getAttribute("data-classify-url");
    var tz = form.getAttribute("data-time-zone");
    var lat = form.querySelector("[name=latitude]");
    var lon = form.querySelector("[name=longitude]");
    var occurred = form.querySelector("[name=occurred_at]");
    var sequence = 0;

    function classify() {
      if (!panel || !url || !lat || !lon) {
        return;
      }
      var a = parseFloat(lat.value);
      var b = parseFloat(lon.value);
      if (!isFinite(a) || !isFinite(b)) {
        return;
      }
      var params = new URLSearchParams({ latitude: String(a), longitude: String(b) });
      var at = occurred ? localToISO(occurred.value, tz) : null;
      if (at) {
        params.set("at", at);
      }
      var mine = ++sequence;
      panel.classList.add("classification--loading");
      fetch(url + "?" + params.toString(), {
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { ok: response.ok, body: body };
          });
        })
        .then(function (result) {
          if (mine !== sequence) {
            return;
          }
          if (result.ok) {
            showClassification(panel, result.body, form);
          } else {
            var messages = [];
            Object.keys(result.body || {}).forEach(function (key) {
              [].concat(result.body[key]).forEach(function (message) {
                messages.push(String(message));
              });
            });
            showProblem(panel, messages.join(" ") || "The point could not be classified.");
          }
        })
        .catch(function () {
          if (mine === sequence) {
            showProblem(panel, "The point could not be classified (no connection).");
          }
        });
    }

    var later = debounce(classify, 300);
    if (occurred) {
      occurred.addEventListener("change", later);
    }
    return { now: classify, later: later };
  }

  /* --- Posts place the point ---------------------------------------------------------- */

  function setupPosts(form, map) {
    var points = (map.config && map.config.post_points) || {};
    ["post", "checkpoint"].forEach(function (name) {
      var select = form.querySelector("select[name=" + name + "]");
      if (!select) {
        return;
      }
      select.addEventListener("change", function () {
        var point = points[select.value];
        if (point && map.empty && map.empty()) {
          map.set(point[0], point[1]);
        }
      });
    });
  }

  /* --- Formsets: "Add a row" ---------------------------------------------------------- */

  function setupFormsets(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-formset-add]"), function (button) {
      var prefix = button.getAttribute("data-formset-add");
      var section = button.closest("[data-formset]");
      var total = form.querySelector("#id_" + prefix + "-TOTAL_FORMS");
      var body = section.querySelector("[data-formset-body]");
      var template = section.querySelector("template[data-formset-empty]");
      button.addEventListener("click", function () {
        var index = parseInt(total.value, 10) || 0;
        var holder = document.createElement("tbody");
        holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index));
        var rowNode = holder.firstElementChild;
        body.appendChild(rowNode);
        total.value = String(index + 1);
        var first = rowNode.querySelector("input, select, textarea");
        if (first) {
          first.focus();
        }
      });
    });
  }

  function init() {
    var form = document.querySelector("[data-report-form]");
    if (!form) {
      return;
    }
    setupFormsets(form);
    var classification = setupClassification(form);
    var map = CM ? setupMap(form, classification.later) : { config: {} };
    setupPosts(form, map);
    classification.now();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
