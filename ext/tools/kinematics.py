"""Marker kinematics in millimetres and seconds: scale from reference markers, smoothed displacement, velocity and
acceleration (SciPy's Savitzky-Golay filter), distances between markers.

Savitzky-Golay: each sample is replaced by the value (or derivative) at its centre of the least-squares polynomial
of order `polyorder` fitted to the `window` samples around it (`scipy.signal.savgol_filter`, `mode="interp"`: the
first and last window / 2 samples come from the polynomial fitted to the first / last window). A window of w samples
at f frames per second smooths over w / f seconds; the acceleration (second derivative) of a polynomial of order 3
over the window follows a crash pulse of that duration or longer. All inputs are per frame, at a constant fps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import savgol_filter

__all__ = ("Kinematics", "distance", "fill_gaps", "kinematics", "scale_from_reference")


def scale_from_reference(a_px: np.ndarray, b_px: np.ndarray, distance_mm: float) -> np.ndarray:
    """Millimetres per pixel, per frame, from two reference markers `distance_mm` apart.

    Args:
        a_px, b_px: (T, 2) pixel positions of the two reference markers (NaN where unseen).
        distance_mm: their true distance.

    Returns:
        (T,) mm per pixel (NaN where either marker is unseen or they coincide).
    """
    if not distance_mm > 0:
        raise ValueError(f"ref_mm={distance_mm}: the reference distance must be positive (millimetres)")
    d = distance(a_px, b_px)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(d > 0, distance_mm / d, np.nan)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) Euclidean distance between two (T, 2) trajectories (the deformation between two markers)."""
    return np.hypot(*(np.asarray(a, float) - np.asarray(b, float)).T)


@dataclass
class Kinematics:
    """One track's kinematics, per frame: time (s), smoothed position (mm), displacement from the first frame (mm),
    velocity (mm/s) and acceleration (mm/s^2), each (T, 2) x / y except `t` and the norms."""

    t: np.ndarray
    position: np.ndarray
    displacement: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray

    def peak_deceleration(self) -> tuple[float, float]:
        """(largest |acceleration| in mm/s^2, its time in s)."""
        a = np.hypot(*self.acceleration.T)
        i = int(np.nanargmax(a))
        return float(a[i]), float(self.t[i])


def fill_gaps(frames: np.ndarray, values: np.ndarray, side: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Every frame from first to last (F,), and `values` (N, k) at them (F, k), filled where frames are missing: per
    gap, a cubic fitted by least squares to up to `side` known frames on each side of it (a straight line with fewer
    than two on a side). `frames` (N,) sorted, distinct.

    A marker hidden while it decelerates does not move on a straight line: a gap of duration t filled linearly is off
    by a t^2 / 8 in its middle at deceleration a, where the cubic follows the pulse.
    """
    full = np.arange(frames[0], frames[-1] + 1)
    out = np.stack([np.interp(full, frames, values[:, j]) for j in range(values.shape[1])], 1)
    for i in np.flatnonzero(np.diff(frames) > 1):
        near = np.arange(max(i - side + 1, 0), min(i + side + 1, len(frames)))  # known frames around gap i -> i+1
        if len(near) < 4 or i < 1 or i + 2 >= len(frames):  # a fit needs two known frames on each side
            continue
        t0 = frames[i]
        gap = np.arange(frames[i] + 1, frames[i + 1])
        coef = np.polyfit(frames[near] - t0, values[near], 3)  # (4, k)
        out[gap - full[0]] = np.stack([np.polyval(coef[:, j], gap - t0) for j in range(values.shape[1])], 1)
    return full, out


def kinematics(xy_px: np.ndarray, fps: float, mm_per_px: float | np.ndarray, window: int = 9,
               polyorder: int = 3) -> Kinematics:
    """Smoothed position, displacement, velocity and acceleration of one track.

    Args:
        xy_px: (T, 2) centre in pixels per frame, no gaps (fill or split a track at gaps first).
        fps: frames per second (> 0).
        mm_per_px: scale, one value or (T,) per frame (a zooming camera, a body moving towards it).
        window: Savitzky-Golay window in frames (odd, > polyorder; shortened to the track's length when longer).
        polyorder: polynomial order of the filter.

    Returns:
        `Kinematics` in mm, s, mm/s, mm/s^2.
    """
    if not fps > 0:
        raise ValueError(f"fps={fps}: frames per second must be positive")
    xy = np.asarray(xy_px, float).reshape(-1, 2)
    if np.isnan(xy).any():
        raise ValueError("the track has frames without a position: fill or split it at its gaps first")
    scale = np.broadcast_to(np.asarray(mm_per_px, float), (len(xy),))[:, None]
    mm = xy * scale
    w = min(window if window % 2 else window + 1, len(mm) if len(mm) % 2 else len(mm) - 1)
    if w <= polyorder:
        raise ValueError(f"a track of {len(mm)} frames is too short for window={window}, polyorder={polyorder}")
    dt = 1.0 / fps

    def sg(deriv):
        return savgol_filter(mm, w, polyorder, deriv=deriv, delta=dt, axis=0, mode="interp")

    pos = sg(0)
    return Kinematics(t=np.arange(len(mm)) * dt, position=pos, displacement=pos - pos[0], velocity=sg(1),
                      acceleration=sg(2))
