"""Identity repair after tracking (`fdet track relink=`): hand-made rows, then ByteTrack on a sequence where a marker
stops while hidden and another gets a duplicate box."""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import torch

from ext.tools import track_markers
from ext.tools.relink import continuations, duplicates, relink
from ext.tools.track import read_csv

FRAMES = 30


def rows_of(tid: int, frames, start, step=(0.0, 0.0), side: float = 20.0) -> list[tuple]:
    """Rows (frame, id, class, cx, cy, x, y, refined, side) of a track moving by `step` px per frame from `start`."""
    out = []
    for k, f in enumerate(frames):
        x, y = np.add(start, np.multiply(step, k))
        out.append((f, tid, "point", x, y, x, y, 1, side))
    return out


def test_duplicate_track_merged_into_the_longer():
    main = rows_of(1, range(0, 30), (100, 100), (2, 0))
    dup = [(f, 2, "point", x + 3, y + 2, x + 3, y + 2, 1, 16.0) for f, _, _, _, _, x, y, _, _ in main[10:20]]
    dup += rows_of(2, [30, 31], (162, 102))  # frames only the duplicate has
    other = rows_of(3, range(0, 30), (100, 200), (2, 0))  # another marker, 100 px away: kept
    assert duplicates(main + dup + other) == {2: 1}
    out = relink(main + dup + other)
    assert sorted(Counter(r[1] for r in out).items()) == [(1, 32), (3, 30)]
    assert len({(r[0], r[1]) for r in out}) == len(out)  # one row per frame and id
    kept = {r[0]: r for r in out if r[1] == 1}
    assert kept[15] == main[15] and kept[31][5:7] == (162, 102)  # the longer track's own row wins a shared frame


def test_tracks_apart_in_a_shared_frame_are_not_duplicates():
    a = rows_of(1, range(0, 20), (100, 100))
    b = rows_of(2, range(5, 15), (104, 100))  # within half a side (10 px) ...
    b[3] = (8, 2, "point", 130, 100, 130, 100, 1, 20.0)  # ... except in one frame
    assert duplicates(a + b) == {}


def test_a_marker_back_under_a_new_id_joins_its_track():
    a = rows_of(1, range(0, 10), (100, 100), (3, 0))  # ends at (127, 100), frame 9
    b = rows_of(2, range(18, 30), (140, 100))  # 8 frames hidden, back 13 px from where it ended (< 2 sides)
    far = rows_of(3, range(12, 30), (300, 100))  # starts after a ended, 173 px away: another marker
    late = rows_of(4, range(60, 65), (140, 100))  # where b (a's continuation) ended, 31 frames after: beyond reach
    assert continuations(a + b + far + late, reach=30) == {2: 1}
    ids = Counter(r[1] for r in relink(a + b + far + late, reach=30))
    assert ids == {1: 22, 3: 18, 4: 5}
    assert relink(a + b, reach=0) == a + b


def test_chains_join_and_each_end_is_continued_once():
    a = rows_of(1, range(0, 10), (100, 100))
    b = rows_of(2, range(12, 20), (105, 100))
    c = rows_of(3, range(22, 30), (110, 100))
    twin = rows_of(4, range(12, 20), (75, 100))  # starts with b, 25 px from a's end: b is nearer, twin stays itself
    assert continuations(a + b + c + twin, reach=30) == {2: 1, 3: 1}
    assert Counter(r[1] for r in relink(a + b + c + twin)) == {1: 26, 4: 8}


class HidingDetector:
    """True boxes (class 0, confidence 0.9): marker 0 vanishes in frames 10-17 and is back where it was hidden
    (it stopped); marker 1 gets a second, smaller box 2 px off in frames 5-24."""

    def __init__(self, centres, sides):
        self.centres, self.sides, self.t = centres.copy(), sides, 0
        self.centres[10:, 0] = centres[9, 0]

    def __call__(self, frame):
        from ultralytics.engine.results import Results

        t, c, s = self.t, self.centres[self.t], self.sides.astype(float)
        keep = [k for k in range(len(c)) if not (k == 0 and 10 <= t <= 17)]
        boxes = [(*(c[k] - s[k] / 2), *(c[k] + s[k] / 2), 0.9, 0) for k in keep]
        if 5 <= t <= 24:
            boxes.append((*(c[1] + 2 - s[1] * 0.4), *(c[1] + 2 + s[1] * 0.4), 0.8, 0))
        self.t += 1
        return Results(frame, path="", names={0: "point"}, boxes=torch.tensor(boxes, dtype=torch.float32))


def ids_per_marker(csv_file, centres) -> list[set]:
    """The track ids within 6 px of each marker's (detector) centre, per marker."""
    out = [set() for _ in range(centres.shape[1])]
    for tid, t in read_csv(csv_file).items():
        for f, cx, cy in t:
            d = np.hypot(*(centres[int(f)] - (cx, cy)).T)
            out[int(np.argmin(d))].add(tid) if d.min() < 6 else None
    return out


def test_track_markers_relinks_what_bytetrack_breaks(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(FRAMES):  # the detector stand-in gives the boxes: plain grey frames
        cv2.imwrite(str(frames / f"{t:03d}.png"), np.full((320, 320, 3), 128, np.uint8))
    start = np.array([(40 + 50 * i, 80 + 110 * j) for j in range(2) for i in range(4)][:7], float)
    centres = start + np.arange(FRAMES)[:, None, None] * np.array([3.0, 1.0])  # (FRAMES, 7, 2), 3 px / frame
    sides = np.array([16, 18, 20, 22, 24, 16, 18])
    raw = track_markers(HidingDetector(centres, sides), frames, out=tmp_path / "raw", subpixel=False, relink=0)
    fixed = track_markers(HidingDetector(centres, sides), frames, out=tmp_path / "fixed", subpixel=False)
    det = HidingDetector(centres, sides).centres
    before, after = ids_per_marker(raw["csv"], det), ids_per_marker(fixed["csv"], det)
    assert len(before[0]) >= 2 and len(before[1]) >= 2  # both defects happen without relinking
    assert all(len(ids) == 1 for ids in after) and len(set().union(*after)) == 7 == fixed["tracks"]
    assert fixed["identities"]["suspected_switches"] == 0
