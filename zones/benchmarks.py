"""Benchmarks of the zones app, run by ``manage.py bench`` (``make bench``).

Not timed tests: they print figures, medians over repeated runs measured side by side
in one process, for docs/benchmarks.md.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import shapely

from . import classifier
from .geometry import SYRIA_BBOX


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def bench_classifier(*, points: int = 1_000_000, repeats: int = 5, log=print) -> dict:
    """Bulk zone/area membership throughput on one core, beside simpler ways to do it."""
    pinning = _pin_to_one_core()
    classifier.invalidate()
    index = classifier.get_index()
    moment = None
    boundaries = index.boundaries_at(classifier.timezone.now())
    polygons = len(boundaries) + len(index.security_areas) + len(index.excluded_areas)
    if not boundaries:
        raise RuntimeError("No zone boundaries loaded: run `manage.py seed` first.")
    rng = np.random.default_rng(20170504)
    min_lon, min_lat, max_lon, max_lat = SYRIA_BBOX
    lon = rng.uniform(min_lon, max_lon, points)
    lat = rng.uniform(min_lat, max_lat, points)
    log(
        f"classifier: {points:,} random points in Syria's bounding box, {len(boundaries)} zones, "
        f"{len(index.security_areas)} security areas, {len(index.excluded_areas)} excluded areas "
        f"({polygons} polygons); {pinning}; median of {repeats}"
    )
    result = classifier.classify_points(lat, lon, at=moment)
    inside = int((result.zone_id > 0).sum())

    bulk = _median_seconds(lambda: classifier.classify_points(lat, lon, at=moment), repeats)
    log(f"  bulk classify_points ............ {points / bulk:>14,.0f} points/s ({bulk:.3f} s)")

    shapes = [
        s.geometry
        for s in (
            boundaries + [a for a in index.security_areas] + [a for a in index.excluded_areas]
        )
    ]

    def unfiltered() -> None:
        for geometry in shapes:
            shapely.contains_xy(geometry, lon, lat)

    plain = _median_seconds(unfiltered, repeats)
    log(f"  contains_xy, no bbox prefilter .. {points / plain:>14,.0f} points/s ({plain:.3f} s)")

    sample = min(points, 20_000)
    single = _median_seconds(
        lambda: [
            classifier.classify_point(latitude=lat[i], longitude=lon[i]) for i in range(sample)
        ],
        max(1, repeats // 2),
    )
    log(
        f"  classify_point one at a time .... {sample / single:>14,.0f} points/s "
        f"({sample:,} points; includes nearest settlement and post)"
    )
    near = _median_seconds(lambda: classifier.nearest_settlements(lat, lon), max(1, repeats // 2))
    log(f"  bulk nearest_settlements ........ {points / near:>14,.0f} points/s")
    log(
        f"  {inside:,} of {points:,} points fall in a zone; bulk/prefilter-less ratio "
        f"{plain / bulk:.2f}x"
    )

    # The prefilter's worst case: every point inside some zone's bounding box.
    boxes = np.array([s.bounds for s in boundaries])
    pick = rng.integers(0, len(boxes), points)
    hard_lon = rng.uniform(boxes[pick, 0], boxes[pick, 2])
    hard_lat = rng.uniform(boxes[pick, 1], boxes[pick, 3])
    hard = _median_seconds(
        lambda: classifier.classify_points(hard_lat, hard_lon, at=moment), repeats
    )
    hard_inside = int((classifier.classify_points(hard_lat, hard_lon).zone_id > 0).sum())

    def prefilter_only() -> None:
        # The same bounding-box prefilter, then contains_xy on every candidate (no grid).
        for shape in shapes_now:
            min_lon, min_lat, max_lon, max_lat = shape.bounds
            candidates = np.flatnonzero(
                (hard_lon >= min_lon)
                & (hard_lon <= max_lon)
                & (hard_lat >= min_lat)
                & (hard_lat <= max_lat)
            )
            shapely.contains_xy(shape.geometry, hard_lon[candidates], hard_lat[candidates])

    shapes_now = boundaries + list(index.security_areas) + list(index.excluded_areas)
    no_grid = _median_seconds(prefilter_only, repeats)
    log(
        f"  bulk, points in zone bboxes only  {points / hard:>14,.0f} points/s ({hard:.3f} s; "
        f"{hard_inside:,} in a zone)"
    )
    log(
        f"  same points, prefilter, no grid . {points / no_grid:>14,.0f} points/s "
        f"(grid speed-up {no_grid / hard:.2f}x)"
    )
    return {
        "points": points,
        "polygons": polygons,
        "bulk_points_per_s": points / bulk,
        "unfiltered_points_per_s": points / plain,
        "single_points_per_s": sample / single,
        "nearest_points_per_s": points / near,
        "points_in_a_zone": inside,
        "bulk_in_zone_bboxes_points_per_s": points / hard,
        "bulk_in_zone_bboxes_no_grid_points_per_s": points / no_grid,
    }


BENCHMARKS = {"classifier": bench_classifier}
