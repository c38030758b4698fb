"""Repair marker identities after tracking: duplicate tracks of one marker merged, tracks broken by a hidden marker
joined again (`fdet track relink=`).

A tracker such as ByteTrack loses identities in two ways on crash footage:

- **duplicates**: two boxes on one marker that NMS kept (other classes, or an IoU under its threshold for a small
  marker) start a second track that runs beside the first. Two tracks are one marker when, in every frame they share,
  their centres lie within half the smaller median box side of each other. The shorter track's rows go to the longer
  one where it has none and are dropped where it has one.
- **re-appearances**: a marker hidden by debris for longer than the tracker's Kalman prediction holds (the marker
  decelerates hard while hidden) comes back under a new id. A track that starts at most `reach` frames after another
  ended, within two box sides of where that one ended, continues it (the nearest; each ended track continues once,
  tracks taken in order of their first frame, so chains A -> B -> C join).

Rows as `track.collect_tracks` and `marker_flow.track_flow` give them: (frame, track_id, class, cx, cy, x, y,
refined, side), positions and side in px; distances use the refined centre (x, y). Only ids change (and duplicate
rows go); a joined track keeps its gaps, which `measure` fills up to `max_gap` or splits.
"""

from __future__ import annotations

import numpy as np


def _tracks(rows: list[tuple]) -> dict[int, dict]:
    """{id: dict(frames {frame: (x, y)}, first, last, side (median box side, px))} of rows."""
    out = {}
    for r in rows:
        t = out.setdefault(r[1], {"frames": {}, "sides": []})
        t["frames"][r[0]] = np.array(r[5:7], float)
        t["sides"].append(r[8])
    for t in out.values():
        t["first"], t["last"] = min(t["frames"]), max(t["frames"])
        t["side"] = float(np.nanmedian(t["sides"])) if np.isfinite(t["sides"]).any() else float("nan")
    return out


def duplicates(rows: list[tuple]) -> dict[int, int]:
    """{id of a duplicate track: id of the track it duplicates} (module notes), longer tracks kept."""
    tracks = _tracks(rows)
    order = sorted(tracks, key=lambda i: (-len(tracks[i]["frames"]), i))
    kept, into = [], {}
    for i in order:
        a = tracks[i]
        for j in kept:
            b = tracks[j]
            shared = a["frames"].keys() & b["frames"].keys()
            radius = min(a["side"], b["side"]) / 2
            if shared and all(np.hypot(*(a["frames"][f] - b["frames"][f])) <= radius for f in shared):
                into[i] = j
                break
        else:
            kept.append(i)
    return into


def continuations(rows: list[tuple], reach: int) -> dict[int, int]:
    """{id of a track: id of the earlier track it continues} (module notes); ids map to the first of their chain."""
    tracks = _tracks(rows)
    chains = []  # [root id, last frame, end position, side]
    into = {}
    for i in sorted(tracks, key=lambda i: (tracks[i]["first"], i)):
        t = tracks[i]
        start = t["frames"][t["first"]]
        near = [(np.hypot(*(start - c[2])), k) for k, c in enumerate(chains)
                if 0 < t["first"] - c[1] <= reach and np.hypot(*(start - c[2])) <= 2 * np.nanmax([t["side"], c[3]])]
        if near:
            c = chains[min(near)[1]]
            into[i] = c[0]
            c[1], c[2] = t["last"], t["frames"][t["last"]]
        else:
            chains.append([i, t["last"], t["frames"][t["last"]], t["side"]])
    return into


def relink(rows: list[tuple], reach: int = 30) -> list[tuple]:
    """Rows with duplicate tracks merged and broken tracks joined (module notes); `reach` 0 returns them as given.

    Args:
        rows: (frame, track_id, class, cx, cy, x, y, refined, side) tuples.
        reach: most frames between the end of a track and the start of the one that continues it.

    Returns:
        New rows, one per (frame, id), ids of merged tracks replaced by the id they join.
    """
    if reach <= 0 or not rows:
        return list(rows)
    into = duplicates(rows)
    kept = {(r[0], r[1]) for r in rows if r[1] not in into}
    merged = [r if r[1] not in into else (r[0], into[r[1]], *r[2:]) for r in rows
              if r[1] not in into or (r[0], into[r[1]]) not in kept]
    merged = list({(r[0], r[1]): r for r in merged}.values())  # one row per frame and id
    into = continuations(merged, reach)
    return [(r[0], into.get(r[1], r[1]), *r[2:]) for r in merged]
