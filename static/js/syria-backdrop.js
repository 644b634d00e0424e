/* The plain background the maps draw when no tile server is configured (MAP_TILE_URL):
 * Syria's outline, neighbouring countries' names and the main cities, for orientation.
 *
 * The outline is a hand-simplified approximation (about 5 km accurate at best), drawn for
 * orientation only; it is not a statement about any border or line of control. The
 * de-escalation zones themselves come from the database. Coordinates are [longitude, latitude]
 * as in GeoJSON.
 */
(function () {
  "use strict";

  window.CeasefireBackdrop = {
    outline: {
      type: "Feature",
      properties: { name: "Syria (approximate outline)" },
      geometry: {
        type: "Polygon",
        coordinates: [
          [
            // Mediterranean coast, from the Lebanese border north to the Turkish border.
            [35.97, 34.64], [35.88, 34.9], [35.9, 35.05], [35.94, 35.18], [35.92, 35.36],
            [35.77, 35.52], [35.74, 35.6], [35.8, 35.72], [35.83, 35.84], [35.92, 35.93],
            // Turkish border: around Hatay, then east along the railway line to the Tigris.
            [36.0, 35.97], [36.18, 35.96], [36.35, 36.1], [36.46, 36.22], [36.55, 36.27],
            [36.66, 36.3], [36.7, 36.36], [36.56, 36.45], [36.55, 36.6], [36.68, 36.83], [36.85, 36.7],
            [37.05, 36.65], [37.5, 36.66], [38.02, 36.84], [38.35, 36.9], [38.95, 36.7],
            [39.5, 36.72], [40.07, 36.85], [40.65, 37.07], [41.22, 37.07], [41.65, 37.1],
            [42.18, 37.32], [42.36, 37.11],
            // Iraqi border, south to Abu Kamal, then the long line to the Jordanian border.
            [42.05, 36.81], [41.4, 36.55], [41.28, 36.35], [41.25, 35.6], [41.0, 34.42],
            [38.79, 33.37],
            // Jordanian border, west along the Yarmouk.
            [36.84, 32.31], [36.4, 32.36], [36.2, 32.47], [35.95, 32.6], [35.75, 32.68],
            // The Golan line of 1974, north to Mount Hermon.
            [35.74, 32.95], [35.75, 33.13], [35.76, 33.28], [35.84, 33.36],
            // Lebanese border, along the Anti-Lebanon and back west to the coast.
            [35.95, 33.45], [36.03, 33.6], [36.03, 33.72], [36.12, 33.82], [36.32, 33.95],
            [36.4, 34.05], [36.58, 34.22], [36.62, 34.4], [36.5, 34.48], [36.38, 34.62],
            [36.2, 34.64], [35.97, 34.64]
          ]
        ]
      }
    },
    countries: [
      { name: "Turkey", latlng: [37.45, 38.3] },
      { name: "Iraq", latlng: [34.0, 42.1] },
      { name: "Jordan", latlng: [31.95, 37.2] },
      { name: "Lebanon", latlng: [34.05, 35.78] },
      { name: "Mediterranean", latlng: [35.05, 35.05] }
    ],
    cities: [
      { name: "Damascus", latlng: [33.513, 36.292] },
      { name: "Aleppo", latlng: [36.202, 37.134] },
      { name: "Homs", latlng: [34.733, 36.716] },
      { name: "Hama", latlng: [35.132, 36.758] },
      { name: "Idlib", latlng: [35.93, 36.634] },
      { name: "Latakia", latlng: [35.523, 35.792] },
      { name: "Tartus", latlng: [34.889, 35.887] },
      { name: "Daraa", latlng: [32.625, 36.106] },
      { name: "As-Suwayda", latlng: [32.709, 36.567] },
      { name: "Quneitra", latlng: [33.125, 35.824] },
      { name: "Palmyra", latlng: [34.551, 38.267] },
      { name: "Raqqa", latlng: [35.951, 39.009] },
      { name: "Deir ez-Zor", latlng: [35.336, 40.141] },
      { name: "Al-Hasakah", latlng: [36.507, 40.747] },
      { name: "Qamishli", latlng: [37.052, 41.226] },
      { name: "Abu Kamal", latlng: [34.452, 40.918] }
    ],
    // South-west and north-east corners: the view that shows the whole country.
    bounds: [
      [32.3, 35.6],
      [37.35, 42.4]
    ]
  };
})();
