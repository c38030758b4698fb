"""The HTML report of `fdet inspect`: one self-contained file (images as data URIs, inline CSS and script).

Page, top to bottom: what was run (model, source, threshold, fault classes) and a banner when the run stopped
early; the counts (images, flagged, unreadable); with labels, the image-level rates of the verdicts; the per-train
table; a class filter (also set by the address: `report.html#class=bolt_missing`) with "showing N of M"; then one
card per image, flagged first (highest fault score first), each with its annotated thumbnail, the crops of its
faults and their class and score; unreadable images are listed at the end. The script only filters and counts:
everything else is in the HTML itself, so the page reads without it.
"""

from __future__ import annotations

import base64
import datetime
import html
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

THUMB_WIDTH, CROP_SIDE = 720, 160  # px

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;background:#f6f6f4;color:#222}
h1{font-size:1.4em}table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #bbb;padding:.25em .6em}
.banner{background:#fde2a7;padding:.6em;border:1px solid #d9a520}.cards{display:flex;flex-wrap:wrap;gap:1em}
.card{background:#fff;border:2px solid #9c9;padding:.5em;width:740px}.card.fault{border-color:#d33}
.card h3{margin:.2em 0;font-size:1em}.verdict{font-weight:bold}.fault .verdict{color:#c00}.thumb{width:100%}
.crops{display:flex;flex-wrap:wrap;gap:.4em}.crops figure{margin:0}.crop{border:1px solid #d33;max-height:160px}
figcaption{font-size:.8em}.hidden{display:none}"""

SCRIPT = """function applyFilter(cls){
  var cards=document.querySelectorAll('.card'), shown=0;
  cards.forEach(function(c){var ok=(cls==='all')||c.dataset.classes.split(' ').indexOf(cls)>=0;
    c.classList.toggle('hidden',!ok); if(ok){shown++;}});
  document.getElementById('shown').textContent=shown;
  document.getElementById('shown-flagged').textContent=document.querySelectorAll('.card.fault:not(.hidden)').length;
  document.getElementById('class-filter').value=cls;}
window.addEventListener('load',function(){
  document.querySelectorAll('img').forEach(function(i){i.dataset.loaded=(i.complete&&i.naturalWidth>0)?'1':'0';});
  var m=location.hash.match(/class=([^&]+)/); applyFilter(m?decodeURIComponent(m[1]):'all');});"""


def to_data_uri(img: np.ndarray, quality: int = 80) -> str:
    """A BGR uint8 image as a JPEG data URI."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode()


def thumbnail_uri(img: np.ndarray) -> str:
    """Data URI of `img` (BGR) scaled to THUMB_WIDTH px wide (never enlarged)."""
    s = min(THUMB_WIDTH / img.shape[1], 1.0)
    return to_data_uri(cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else img)


def crop_uri(img: np.ndarray, box) -> str:
    """Data URI of the box `[x1, y1, x2, y2]` (px) of `img` with half its size of context around it (at least
    16 px each side), scaled so that its longer side is at most CROP_SIDE px (small parts enlarged to 96 px)."""
    x1, y1, x2, y2 = box
    pad = max(0.5 * max(x2 - x1, y2 - y1), 16)
    h, w = img.shape[:2]
    x1, y1 = int(max(x1 - pad, 0)), int(max(y1 - pad, 0))
    x2, y2 = int(min(x2 + pad, w)), int(min(y2 + pad, h))
    crop = img[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    s = min(CROP_SIDE / max(crop.shape[:2]), max(96 / max(crop.shape[:2]), 1.0))
    return to_data_uri(cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR))


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _card(v) -> str:
    classes = " ".join(sorted({c for c, _, _ in v.faults}))
    title = "fault: " + ", ".join(f"{c} {s:.2f}" for c, s, _ in v.faults) if v.faults else "normal"
    truth = f" (labels: {_e(v.truth)})" if v.truth else ""
    crops = "".join(f'<figure title="{_e(c)} {s:.2f} at x1, y1, x2, y2 = {", ".join(f"{x:.0f}" for x in b)} px">'
                    f'<img class="crop" src="{u}" alt="{_e(c)}"><figcaption>{_e(c)} {s:.2f}</figcaption></figure>'
                    for u, (c, s, b) in zip(v.crops, v.faults))
    return (f'<div class="card {v.verdict}" data-classes="{_e(classes)}" data-image="{_e(v.image)}">'
            f'<h3>{_e(v.image)} <small>train {_e(v.train)}</small></h3>'
            f'<div class="verdict">{_e(title)}{truth}</div><img class="thumb" src="{v.thumb}" alt="{_e(v.image)}">'
            f'<div class="crops">{crops}</div></div>')


def order(verdicts: list) -> list:
    """Readable images, faults first (highest fault score first), then normal ones, each by name."""
    ok = [v for v in verdicts if v.verdict != "unreadable"]
    return sorted(ok, key=lambda v: (v.verdict != "fault", -(v.faults[0][1] if v.faults else 0.0), v.image))


def write_report(path: Path, verdicts: list, meta: dict, rates: dict | None, complete: bool) -> Path:
    """Write the report of `verdicts` (ext.tools.inspection.Verdict) to `path` atomically; return `path`."""
    shown = order(verdicts)
    bad = [v.image for v in verdicts if v.verdict == "unreadable"]
    flagged = sum(v.verdict == "fault" for v in verdicts)
    per_train: dict[str, list] = {}
    for v in verdicts:
        per_train.setdefault(v.train, []).append(v)
    train_rows = "".join(
        f"<tr><td>{_e(t)}</td><td>{len(vs)}</td><td>{sum(v.verdict == 'fault' for v in vs)}</td>"
        f"<td>{_e(', '.join(f'{c} {n}' for c, n in sorted(Counter(c for v in vs for c, _, _ in v.faults).items())))}"
        f"</td><td>{'FAULT' if any(v.verdict == 'fault' for v in vs) else 'normal'}</td></tr>"
        for t, vs in sorted(per_train.items()))
    options = "".join(f'<option value="{_e(c)}">{_e(c)}</option>' for c in meta["faults"])
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>fdet inspect report</title>",
        f"<style>{STYLE}</style><script>{SCRIPT}</script></head><body><h1>Inspection report</h1>",
        "" if complete else f'<p class="banner" id="partial">Partial report: the run stopped after '
                            f'{len(verdicts)} image(s).</p>',
        f"<p>Model <code>{_e(meta['model'])}</code>, source <code>{_e(meta['source'])}</code>, fault when a box of "
        f"{_e(', '.join(meta['faults']))} scores at least {meta['conf']}"
        f"{', sliced at ' + str(meta['slice']) + ' px' if meta.get('slice') else ''}; "
        f"{datetime.datetime.now():%Y-%m-%d %H:%M}.</p>",
        f'<p><b id="flagged">{flagged}</b> of <b id="images">{len(verdicts) - len(bad)}</b> images flagged; '
        f'<b id="unreadable">{len(bad)}</b> unreadable.</p>',
    ]
    if rates:
        parts.append(
            "<h2>Against the labels</h2><table id='rates'><tr><th>images</th><th>faulty</th><th>false detections</th>"
            "<th>missed</th><th>FDR</th><th>MDR</th><th>CDR</th></tr>"
            f"<tr><td>{rates['images']}</td><td>{rates['faulty']}</td><td>{rates['false']}</td><td>{rates['missed']}"
            f"</td><td>{rates['FDR']:.3f}</td><td>{rates['MDR']:.3f}</td><td>{rates['CDR']:.3f}</td></tr></table>"
            "<p>Fractions of all labelled images: FDR flagged but normal, MDR faulty but not flagged, "
            "CDR = 1 - FDR - MDR.</p>")
    parts += [
        "<h2>Trains</h2><table id='trains'><tr><th>train</th><th>images</th><th>flagged</th><th>faults</th>"
        f"<th>verdict</th></tr>{train_rows}</table>",
        f'<h2>Images</h2><p><label>Class <select id="class-filter" onchange="applyFilter(this.value)">'
        f'<option value="all">all</option>{options}</select></label> showing <b id="shown">{len(shown)}</b> of '
        f'{len(shown)} (<span id="shown-flagged">{flagged}</span> flagged)</p>',
        f'<div class="cards">{"".join(_card(v) for v in shown)}</div>',
        f"<h2>Unreadable</h2><ul id='unreadable-list'>{''.join(f'<li>{_e(b)}</li>' for b in bad)}</ul>" if bad else "",
        "</body></html>",
    ]
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text("".join(parts), encoding="utf-8")
    os.replace(tmp, path)
    return path
