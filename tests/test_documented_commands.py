"""Every command of README.md's fenced code blocks runs, at a tiny scale, so that a documented command cannot break
unnoticed.

The commands are read from README.md when the tests run: each line of a ```bash block (lines ending in `\\` joined,
trailing `# comments` dropped, `a && b` split in two) and each ```python block as a whole. Optional `[...]` words
of a command (`[quantize=8 split=train]`) give a second variant with their contents included. Each command is
matched to a recipe below that runs it in-process (`ext.cli.main` for `fdet`, the script itself for
`python train_*.py`, `exec` for a Python block) after scaling it down: catalog sets to their tiny versions,
`epochs` to 1, `imgsz` to 64, file names such as `best.pt` or `path/to/images` made to exist in the test's own
folder (the working directory), and then checks what the mode promises to leave on disk. A README command without
a recipe fails, naming it; commands that cannot run inside a test are in `SKIP`, with the reason.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import runpy
import shlex
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# Commands that cannot run inside a test, exactly as the README writes them (after splitting `a && b`).
SKIP = {
    "pip install -e .": "installs the package: the tests run on the installed package and must not reinstall it",
    'pip install -e ".[test]"': "installs the package with its test extras: the tests already run on that install",
    "pytest": "runs the whole test suite, of which this file is a part",
}

# Commands the README documents in its prose (inline code) rather than in a code block, run here as well.
PROSE = {"python train_gjadet.py": "Quick start: `python train_gjadet.py` does the same (as train_hsd.py) for GJADet"}

# Catalog sets of the README -> the tiny sets the tests use (8 train / 4 val images at 64 px).
TINY_DATA = {
    "fault-synth": "fault-synth-tiny",
    "fault-frames": "fault-synth-tiny",
    "rail-tracks": "fault-synth-tiny",
    "crash-synth": "crash-synth-tiny",
    "fault-synth-tiny": "fault-synth-tiny",
    "crash-synth-tiny": "crash-synth-tiny",
}
SCALE = {"epochs": "1", "imgsz": "64", "size": "32", "slice": "32"}  # size: `fdet data tile`; slice: sliced inference
N_IMAGES = 4  # images in a source folder made for predict / cam / track / inspect (fault-synth-tiny's val images)


# ---------------------------------------------------------------------------------------------- README parsing


def readme_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block of the text."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.M | re.S)]


def shell_commands(body: str) -> list[str]:
    """The commands of a shell block: `\\` continuations joined, trailing `# comments` dropped, `&&` split."""
    joined = re.sub(r"\\\n\s*", " ", body)
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            commands += [" ".join(c.split()) for c in line.split("&&") if c.strip()]
    return commands


OPTIONAL = re.compile(r"(?<!\S)\[([^\]]*)\]")  # a whole word in brackets, not `key=[a,b]`


def variants(command: str) -> list[str]:
    """The command without its optional `[...]` words and, when it has some, with their contents included."""
    plain = " ".join(OPTIONAL.sub("", command).split())
    full = " ".join(OPTIONAL.sub(lambda m: m.group(1), command).split())
    return [plain] if full == plain else [plain, full]


@dataclass(frozen=True)
class Documented:
    readme: str  # the command (or Python block) as the README writes it
    run: str  # the variant this test runs
    kind: str  # 'shell' (a code block's command), 'prose' (PROSE) or 'python' (a whole Python block)


def documented() -> list[Documented]:
    """Every command of README.md's ```bash blocks (with variants), every ```python block, and the PROSE commands
    still written in the README's inline code."""
    text, items = README.read_text(encoding="utf-8"), []
    for lang, body in readme_blocks(text):
        if lang in ("bash", "sh", "shell", "console"):
            items += [Documented(c, v, "shell") for c in shell_commands(body) for v in variants(c)]
        elif lang == "python":
            items.append(Documented(body, body, "python"))
    return items + [Documented(c, c, "prose") for c in PROSE if f"`{c}`" in text]


def item_id(item: Documented, seen: dict) -> str:
    """The test id: the command as run, shortened in the middle; the variant with optional words `... +[words]`."""
    if item.kind == "python":
        text = "python block: " + " ".join(item.run.split())
        text = text if len(text) <= 72 else text[:69] + "..."
    else:
        plain = variants(item.readme)[0]
        text = plain if item.run == plain else f"{plain} +[{' '.join(OPTIONAL.findall(item.readme))}]"
        text = text if len(text) <= 80 else text[:48] + "..." + text[-29:]
    seen[text] = seen.get(text, 0) + 1
    return text if seen[text] == 1 else f"{text} #{seen[text]}"


ITEMS = documented()
_SEEN: dict = {}
IDS = [item_id(i, _SEEN) for i in ITEMS]


def test_readme_has_commands():
    """The parser still finds the README's commands (a reformatted README must not silently test nothing)."""
    kinds = {i.kind for i in ITEMS}
    assert {"shell", "python"} <= kinds, f"README.md fenced blocks found: {kinds}"
    assert sum(i.run.startswith("fdet ") for i in ITEMS) >= 10
    assert any(i.run.startswith("python ") for i in ITEMS)


def test_skip_list_has_no_stale_entries():
    """Each skipped command is still in the README (remove an entry when its command goes)."""
    commands = {i.run for i in ITEMS if i.kind == "shell"}
    assert not set(SKIP) - commands, f"SKIP lists commands no longer in README.md: {sorted(set(SKIP) - commands)}"
    prose = {i.run for i in ITEMS if i.kind == "prose"}
    assert not set(PROSE) - prose, f"PROSE lists commands no longer in README.md: {sorted(set(PROSE) - prose)}"


# ---------------------------------------------------------------------------------------------- test environment


def redirect_default_runs(mp: pytest.MonkeyPatch, folder: Path) -> None:
    """Ultralytics' default run folders (no absolute `project=`) go under `folder`, never into site-packages'
    tests/tmp or the user's runs_dir."""
    import ultralytics.cfg as ucfg

    mp.setattr(ucfg, "TESTS_RUNNING", False)
    mp.setattr(ucfg, "SETTINGS", {**ucfg.SETTINGS, "runs_dir": str(folder / "default-runs")})


def data_yaml(name: str) -> dict:
    """The prepared data YAML of a catalog name, loaded, with absolute split folders."""
    from ultralytics.utils import YAML

    from ext.data import resolve_data

    d = YAML.load(resolve_data(name))
    root = Path(d["path"])
    return {**d, "train": root / d["train"], "val": root / d["val"]}


def labels_of(image_dir: Path) -> Path:
    """The YOLO label folder of an image folder `<root>/images/<split>`: `<root>/labels/<split>`."""
    return image_dir.parent.parent / "labels" / image_dir.name


def label_rows(label_file: Path) -> list[list[float]]:
    text = label_file.read_text() if label_file.is_file() else ""
    return [[float(x) for x in r.split()] for r in text.splitlines() if r.strip()]


def onnx_backend() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


class Env:
    """One test's folder (also the working directory) and the tiny things a command needs, made on request."""

    def __init__(self, tmp_path: Path, mp: pytest.MonkeyPatch, capsys, request):
        self.tmp, self.mp, self.capsys, self.request = tmp_path, mp, capsys, request
        mp.chdir(tmp_path)
        redirect_default_runs(mp, tmp_path)
        self.val_images = data_yaml("fault-synth-tiny")["val"]

    # the things commands name
    def weights(self, value: str) -> str:
        """A checkpoint (or torchvision state dict) the command names, placed where it says; returns the value."""
        path = Path(value)
        if path.is_absolute():
            if re.fullmatch(r"resnet50-.*\.pth", path.name):
                import torch
                import torchvision

                local = self.tmp / "weights" / path.name  # an offline stand-in: random weights, same tensor names
                local.parent.mkdir(exist_ok=True)
                torch.save(torchvision.models.resnet50(weights=None).state_dict(), local)
                return str(local)
            pytest.fail(f"no tiny stand-in for the absolute weights path '{value}': add one to {Path(__file__).name}")
        if not path.suffix == ".pt":
            pytest.fail(f"no tiny stand-in for the weights '{value}': add one to {Path(__file__).name}")
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.gjadet_weights() if "gjadet" in value else self.hsd_weights(), path)
        return value

    def hsd_weights(self) -> Path:
        return self.request.getfixturevalue("hsd_tiny_run") / "weights" / "best.pt"

    def gjadet_weights(self) -> Path:
        """best.pt of `python train_gjadet.py` at the tiny scale (the run the README's GJADet paths come from)."""
        return Path(self.request.getfixturevalue("script_runs")("python train_gjadet.py")[1]["weights"])

    def data(self, value: str, mode: str) -> str:
        if mode == "benchmark":  # INT8 calibration needs at least 16 images: a generated 16-image set
            return self.request.getfixturevalue("data16")
        if value not in TINY_DATA:
            pytest.fail(f"no tiny data set for data={value}: add it to TINY_DATA in {Path(__file__).name}")
        return TINY_DATA[value]

    def frames(self, value: str) -> Path:
        """Fill the (relative) folder `value` with fault-synth-tiny's val images."""
        folder = self.tmp / value
        if Path(value).is_absolute() or not inside(folder, self.tmp):
            pytest.fail(f"source={value}: the test makes sources only inside its own folder")
        folder.mkdir(parents=True, exist_ok=True)
        for f in sorted(self.val_images.glob("*.jpg"))[:N_IMAGES]:
            shutil.copy(f, folder / f.name)
        return folder

    def labels(self, value: str) -> Path:
        """Fill the (relative) folder `value` with the YOLO labels of the images `frames` copies."""
        folder = self.tmp / value
        folder.mkdir(parents=True, exist_ok=True)
        for f in sorted(self.val_images.glob("*.jpg"))[:N_IMAGES]:
            shutil.copy(labels_of(self.val_images) / f"{f.stem}.txt", folder / f"{f.stem}.txt")
        return folder

    # running `fdet`
    def fdet(self, words: list[str]):
        """`ext.cli.main(words)` in-process; returns (rc, stdout, stderr, what the mode returned or None)."""
        import ext.cli as cli

        returned = []
        run, run_tool = cli.run, cli.run_tool

        def spy_run(*a, **k):
            returned.append(run(*a, **k))
            return returned[-1]

        def spy_tool(*a, **k):
            returned.append(run_tool(*a, **k))
            return returned[-1]

        self.mp.setattr(cli, "run", spy_run)
        self.mp.setattr(cli, "run_tool", spy_tool)
        self.capsys.readouterr()
        rc = cli.main(words)
        out, err = self.capsys.readouterr()
        return rc, out, err, returned[-1] if returned else None


def keys_of(words: list[str]) -> dict:
    return dict(w.split("=", 1) for w in words if "=" in w)


def scaled(words: list[str], env: Env, mode: str) -> list[str]:
    """The command's key=value words at the tiny scale (data sets, epochs, sizes, weights, formats)."""
    out = []
    for w in words:
        if "=" not in w:
            out.append(w)
            continue
        k, v = w.split("=", 1)
        if k in SCALE:
            v = SCALE[k]
        elif k == "data" or (k == "name" and mode == "data prepare"):
            v = env.data(v, mode)
        elif k in ("model", "distill_model", "pretrained") and not v.endswith((".yaml", ".yml")):
            v = env.weights(v)
        elif k == "formats" and importlib.util.find_spec("openvino") is None:
            v = ",".join(f for f in v.split(",") if f.strip() != "openvino") or "onnx"
        out.append(f"{k}={v}")
    return out


def with_defaults(words: list[str], **defaults) -> list[str]:
    given = keys_of(words)
    return words + [f"{k}={v}" for k, v in defaults.items() if k not in given]


def assert_ok(rc, out, err, words):
    assert rc == 0, f"fdet {' '.join(words)} -> rc {rc}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}"


def inside(path, folder: Path) -> bool:
    p = Path(path).resolve()
    return p == folder.resolve() or folder.resolve() in p.parents


# ---------------------------------------------------------------------------------------------- recipes: fdet


def fdet_train(words, env):
    from ext.models import family_of

    model_yaml = keys_of(words).get("model", "hsd-n.yaml")
    words = with_defaults(scaled(words, env, "train"), epochs=1, imgsz=64, batch=4, nbs=4, workers=0, device="cpu",
                          plots=False, project=str(env.tmp / "runs"), name="train", exist_ok=True)
    rc, out, err, _ = env.fdet(words)
    assert_ok(rc, out, err, words)
    run = env.tmp / "runs" / "train"
    best, last = run / "weights" / "best.pt", run / "weights" / "last.pt"
    assert best.is_file() and last.is_file(), f"no weights in {run}: {sorted(p.name for p in run.rglob('*'))}"
    with open(run / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and int(float(rows[0]["epoch"])) == 1  # epochs=1: one row
    if "distill_model" in keys_of(words):
        assert "train/ld_loss" in {k.strip() for k in rows[0]}, f"distillation run without an ld_loss column: {rows[0]}"
    assert family_of(str(best)) is family_of(model_yaml)  # the checkpoint loads back as the YAML's family


def fdet_val(words, env):
    words = with_defaults(scaled(words, env, "val"), imgsz=64, batch=4, workers=0, device="cpu", plots=False,
                          project=str(env.tmp / "runs"), name="val", exist_ok=True)
    rc, out, err, metrics = env.fdet(words)
    assert_ok(rc, out, err, words)
    assert 0 <= float(metrics.box.map) <= 1 and "metrics/mAP50-95(B)" in metrics.results_dict
    assert (env.tmp / "runs" / "val").is_dir() and inside(metrics.save_dir, env.tmp)


def fdet_predict(words, env):
    import cv2

    words = with_defaults(scaled(words, env, "predict"), imgsz=64, device="cpu")
    source = env.frames(keys_of(words)["source"])
    rc, out, err, results = env.fdet(words)
    assert_ok(rc, out, err, words)
    images = sorted(source.glob("*.jpg"))
    assert sorted(Path(r.path).name for r in results) == [p.name for p in images]  # one Results per image
    for r in results:
        assert r.orig_shape == cv2.imread(r.path).shape[:2] and r.boxes is not None


def fdet_export(words, env):
    words = with_defaults(scaled(words, env, "export"), imgsz=64, device="cpu")
    keys = keys_of(words)
    rc, out, err, file = env.fdet(words)
    assert_ok(rc, out, err, words)
    expected = Path(keys["model"]).with_suffix(f".{keys['format']}")
    assert Path(file).resolve() == expected.resolve() and expected.is_file() and expected.stat().st_size > 0
    if keys["format"] == "onnx" and onnx_backend():
        import numpy as np
        import onnxruntime as ort

        session = ort.InferenceSession(str(expected), providers=["CPUExecutionProvider"])
        shape = session.get_inputs()[0].shape
        assert shape[2:] == [64, 64]
        y = session.run(None, {session.get_inputs()[0].name: np.zeros(shape, np.float32)})[0]
        assert np.isfinite(y).all()


def fdet_benchmark(words, env):
    words = with_defaults(scaled(words, env, "benchmark"), imgsz=64, device="cpu")
    keys = keys_of(words)
    rc, out, err, rows = env.fdet(words)
    assert_ok(rc, out, err, words)
    formats = [f for f in keys.get("formats", "onnx").split(",") if f != "pytorch"]
    int8 = str(keys.get("quantize")) == "8"
    assert [(r["format"], r["precision"]) for r in rows] == [("pytorch", "fp32")] + [
        (f, "int8" if int8 else "fp32") for f in formats]
    assert all(r["status"] == "ok" for r in rows), [r["status"] for r in rows]
    table = env.tmp / "runs" / "benchmark" / Path(keys["model"]).stem / "benchmark.csv"  # README: runs/benchmark/<name>
    with open(table) as f:
        assert [r["format"] for r in csv.DictReader(f)] == [r["format"] for r in rows]


def fdet_data_list(words, env):
    from ultralytics.utils import YAML

    rc, out, err, _ = env.fdet(words)
    assert_ok(rc, out, err, words)
    listed = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert set(YAML.load(REPO / "datasets.yaml")) <= listed


def fdet_data_prepare(words, env):
    from ultralytics.utils import YAML

    words = scaled(words, env, "data prepare")
    name = keys_of(words)["name"]
    rc, out, err, _ = env.fdet(words)
    assert_ok(rc, out, err, words)
    yaml_file = Path(out.strip().splitlines()[-1])
    assert yaml_file.is_file() and inside(yaml_file, env.request.getfixturevalue("dataset_cache"))
    d, entry = YAML.load(yaml_file), YAML.load(REPO / "datasets.yaml")[name]
    for split, n in (("train", entry["n_train"]), ("val", entry["n_val"])):
        assert len(list((Path(d["path"]) / d[split]).glob("*.*"))) == n
    assert list(d["names"].values()) == entry["names"]


def write_voc(ann_dir: Path, img_dir: Path, images: list[Path], names: dict) -> int:
    """Pascal VOC XML for `images` (boxes from their YOLO labels); returns the number of boxes."""
    n = 0
    ann_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    for img in images:
        shutil.copy(img, img_dir / img.name)
        root = ET.Element("annotation")
        ET.SubElement(root, "filename").text = img.name
        size = ET.SubElement(root, "size")
        for k, v in (("width", 64), ("height", 64), ("depth", 3)):
            ET.SubElement(size, k).text = str(v)
        for c, x, y, w, h in label_rows(labels_of(img.parent) / f"{img.stem}.txt"):
            obj = ET.SubElement(root, "object")
            ET.SubElement(obj, "name").text = names[int(c)]
            box = ET.SubElement(obj, "bndbox")
            for k, v in (("xmin", x - w / 2), ("ymin", y - h / 2), ("xmax", x + w / 2), ("ymax", y + h / 2)):
                ET.SubElement(box, k).text = str(round(v * 64, 2))
            n += 1
        ET.ElementTree(root).write(ann_dir / f"{img.stem}.xml")
    return n


def write_coco(json_file: Path, img_dir: Path, images: list[Path], names: dict) -> int:
    """A COCO detection json for `images` (boxes from their YOLO labels); returns the number of boxes."""
    img_dir.mkdir(parents=True, exist_ok=True)
    coco = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in names.items()]}
    for i, img in enumerate(images):
        shutil.copy(img, img_dir / img.name)
        coco["images"].append({"id": i, "file_name": img.name, "width": 64, "height": 64})
        for c, x, y, w, h in label_rows(labels_of(img.parent) / f"{img.stem}.txt"):
            coco["annotations"].append({"id": len(coco["annotations"]), "image_id": i, "category_id": int(c) + 1,
                                        "bbox": [(x - w / 2) * 64, (y - h / 2) * 64, w * 64, h * 64], "iscrowd": 0})
    json_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(coco))
    return len(coco["annotations"])


def fdet_data_convert(words, env):
    from ultralytics.utils import YAML

    keys = keys_of(words)
    names = data_yaml("fault-synth-tiny")["names"]
    images = sorted(env.val_images.glob("*.jpg"))[:2]
    writer = {"voc": write_voc, "coco": write_coco}.get(keys["format"])
    if writer is None:
        pytest.fail(f"no tiny input for 'fdet data convert format={keys['format']}' in {Path(__file__).name}")
    boxes = writer(env.tmp / keys["source"], env.tmp / keys["images"], images, names)
    assert boxes > 0
    rc, out, err, _ = env.fdet(words)
    assert_ok(rc, out, err, words)
    root, split = env.tmp / keys["out"], keys.get("split", "train")
    assert sorted(p.name for p in (root / "images" / split).iterdir()) == [p.name for p in images]
    labels = sorted((root / "labels" / split).glob("*.txt"))
    assert [p.stem for p in labels] == [p.stem for p in images]
    assert sum(len(label_rows(p)) for p in labels) == boxes
    written = YAML.load(root / "data.yaml")["names"]
    assert set((written.values() if isinstance(written, dict) else written)) <= set(names.values())


def fdet_data_tile(words, env):
    from ultralytics.utils import YAML

    words = scaled(words, env, "data tile")
    keys = keys_of(words)
    src = data_yaml(keys["data"])
    rc, out, err, _ = env.fdet(words)
    assert_ok(rc, out, err, words)
    root = env.tmp / keys["out"]
    assert (root / "data.yaml").is_file() and YAML.load(root / "data.yaml")["names"] == src["names"]
    for split in ("train", "val"):
        tiles = sorted((root / "images" / split).iterdir())
        assert len(tiles) > len(list(src[split].glob("*.jpg")))  # 64 px images, 32 px tiles: several per image
        assert [p.stem for p in sorted((root / "labels" / split).glob("*.txt"))] == [p.stem for p in tiles]


def fdet_help(words, env):
    from ext.models import family_of
    from ext.registry import ext_defaults

    rc, out, err, _ = env.fdet(words)
    assert_ok(rc, out, err, words)
    assert "Usage: fdet" in out and all(m in out for m in ("train", "val", "predict", "export", "inspect"))
    assert all(f"{k}=" in out for k in ext_defaults())  # every key of ours, with its default
    model = keys_of(words).get("model")
    if model:  # `fdet help model=X.yaml`: the family's defaults, the family named
        assert family_of(model).__name__ in out


def run_folder(keys: dict, produced, env) -> Path:
    """The folder a tool wrote `produced` into, checked against its run-folder keys: `out=DIR`, else
    `project=`/`name=` (a relative project under Ultralytics' runs folder, here redirected into the test folder)."""
    folder = Path(produced).resolve().parent
    assert inside(folder, env.tmp), f"{produced} written outside the test folder"
    if "out" in keys:
        assert folder == (env.tmp / keys["out"]).resolve()
    elif "project" in keys or "name" in keys:
        tail = [keys[k] for k in ("project", "name") if k in keys]
        assert list(folder.parts[-len(tail):]) == [Path(t).name for t in tail], f"{folder} is not {'/'.join(tail)}"
    return folder


def fdet_cam(words, env):
    import cv2

    words = with_defaults(scaled(words, env, "cam"), imgsz=64, device="cpu")
    keys = keys_of(words)
    source = env.frames(keys["source"])
    rc, out, err, files = env.fdet(words)
    assert_ok(rc, out, err, words)
    images = sorted(source.glob("*.jpg"))
    folder = run_folder(keys, files[0], env)
    assert sorted(p.name for p in folder.glob("*_cam.png")) == [f"{p.stem}_cam.png" for p in images]
    for p in images:
        assert cv2.imread(str(folder / f"{p.stem}_cam.png")).shape == cv2.imread(str(p)).shape


def fdet_track(words, env):
    words = with_defaults(scaled(words, env, "track"), imgsz=64, device="cpu")
    keys = keys_of(words)
    env.frames(keys["source"])
    rc, out, err, res = env.fdet(words)
    assert_ok(rc, out, err, words)
    folder = run_folder(keys, res["csv"], env)
    assert Path(res["csv"]).name == "trajectories.csv"
    with open(folder / "trajectories.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == ["frame", "track_id", "class", "cx", "cy"]  # README: centres in pixels, then refinement
    if "classes" in keys:
        assert {r[2] for r in rows[1:]} <= {keys["classes"], f"{float(keys['classes'])}"}
    assert (folder / "tracks.csv").is_file() and (folder / "displacement.png").is_file()


def fdet_inspect(words, env):
    from ext.metrics import fault_class_ids

    words = with_defaults(scaled(words, env, "inspect"), imgsz=64, device="cpu")
    keys = keys_of(words)
    source = env.frames(keys["source"])
    labels = env.labels(keys["labels"]) if "labels" in keys else None
    rc, out, err, res = env.fdet(words)
    assert_ok(rc, out, err, words)
    report, table = Path(res["report"]), Path(res["csv"])
    folder = run_folder(keys, report, env)
    assert report.is_file() and report.read_text().lstrip().lower().startswith("<!doctype")
    assert table.name == "inspection.csv" and table.resolve().parent == folder and (folder / "faults.csv").is_file()
    with open(table) as f:
        rows = list(csv.DictReader(f))
    images = sorted(source.glob("*.jpg"))
    assert sorted(r["image"] for r in rows) == [p.name for p in images]
    assert all(r["verdict"] in ("fault", "normal") for r in rows)
    if labels is None:
        assert all(r["truth"] == "" for r in rows) and res["rates"] is None
        return
    # truth per image: a box of a fault class in its label file; fault classes from faults=[...] (names as written
    # in the command, the bracket form a list of names) or, without faults=, the names that mark a fault state
    names = data_yaml("fault-synth-tiny")["names"]
    faults = keys.get("faults")
    wanted = re.findall(r"[^\[\],\s]+", faults) if faults else None
    fault_ids = {i for i, n in names.items() if n in wanted} if wanted else set(fault_class_ids(names, None))
    assert not wanted or len(fault_ids) == len(wanted), f"faults={faults}: not classes of {list(names.values())}"
    expected = {p.name: "fault" if {int(r[0]) for r in label_rows(labels / f"{p.stem}.txt")} & fault_ids else "normal"
                for p in images}
    assert {r["image"]: r["truth"] for r in rows} == expected
    assert len(set(expected.values())) == 2  # the check means something: the images hold both kinds
    assert res["rates"] is not None and res["rates"]["images"] == len(images)


# ---------------------------------------------------------------------------------------------- recipes: scripts

TINY_SCRIPT = {  # keys added to `python train_*.py` (unless the command gives them), after scaling its own
    "train_hsd.py": dict(data="fault-synth-tiny", epochs=1, imgsz=64, batch=4, nbs=4, workers=0, plots=False),
    "train_gjadet.py": dict(data="crash-synth-tiny", epochs=1, imgsz=64, batch=4, nbs=4, workers=0, plots=False),
}
PIPELINE = {"train_hsd.py": "ext.models.hsd.pipeline", "train_gjadet.py": "ext.models.gjadet.pipeline"}


def run_script(command: str, folder: Path, mp: pytest.MonkeyPatch) -> dict:
    """Run `python SCRIPT key=value ...` as `__main__` in `folder` (its default `runs/...` land there), at the tiny
    scale; return what the script's pipeline `main` returned."""
    import importlib

    words = shlex.split(command)[1:]
    script = words[0]
    if script not in TINY_SCRIPT:
        pytest.fail(f"no tiny recipe for '{command}': add it to TINY_SCRIPT in {Path(__file__).name}")
    args = []
    for w in words[1:]:
        if "=" not in w:
            pytest.fail(f"no tiny recipe for '{command}' (only key=value words): add one to {Path(__file__).name}")
        k, v = w.split("=", 1)
        if k == "data" and v not in TINY_DATA:
            pytest.fail(f"no tiny data set for data={v}: add it to TINY_DATA in {Path(__file__).name}")
        args.append(f"{k}={SCALE.get(k) or (TINY_DATA[v] if k == 'data' else v)}")
    args = with_defaults(args, **TINY_SCRIPT[script])
    module = importlib.import_module(PIPELINE[script])
    returned = []
    real = module.main

    def spy(argv):
        returned.append(real(argv))
        return returned[-1]

    mp.setattr(module, "main", spy)
    mp.chdir(folder)
    redirect_default_runs(mp, folder)
    mp.setattr(sys, "argv", [str(REPO / script), *args])
    runpy.run_path(str(REPO / script), run_name="__main__")
    assert len(returned) == 1, f"{script} did not call its pipeline's main"
    return returned[0]


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory, dataset_cache):
    """`python train_*.py` runs, each made once per module: command -> (its folder, what main returned)."""
    cache = {}

    def run(command: str):
        if command not in cache:
            folder = tmp_path_factory.mktemp("script")
            with pytest.MonkeyPatch.context() as mp:
                cache[command] = (folder, run_script(command, folder, mp))
        return cache[command]

    return run


@pytest.fixture(scope="module")
def data16(tmp_path_factory) -> str:
    """fault-synth at 64 px with 16 training images: enough to calibrate an INT8 export (`split=train`)."""
    from ext.data import generate

    return str(generate("fault-synth", tmp_path_factory.mktemp("data16"), 16, 4, imgsz=64, seed=3)["yaml"])


def python_script(command, env):
    folder, res = env.request.getfixturevalue("script_runs")(command)
    script = shlex.split(command)[1]
    weights = [res["teacher"], res["student"]] if script == "train_hsd.py" else [res["weights"]]
    for w in weights:
        assert Path(w).is_file() and inside(w, folder / "runs"), f"{w} not a file under {folder / 'runs'}"
    assert len(res["rows"]) == len(weights)
    for row in res["rows"]:
        assert 0 <= row["mAP50-95"] <= 1 and row["params"] > 0
    if script == "train_gjadet.py":  # README: mAP50-95, AP of the rare and frequent groups, COCO AP_small
        assert {"AP_rare", "AP_frequent", "AP_small"} <= set(res["rows"][0]), res["rows"][0]
    if script == "train_hsd.py":  # the student is distilled from the teacher (README: teacher, then student)
        with open(Path(res["student"]).parents[1] / "results.csv") as f:
            assert "train/ld_loss" in {k.strip() for k in next(csv.DictReader(f))}


# ---------------------------------------------------------------------------------------------- recipe: Python block


def python_block(code: str, env):
    """exec the README's Python block in the test folder: tiny data and epochs, 64 px, the tiny checkpoint as
    "teacher.pt", its images/ folder made, its training run written to runs/detect/train as the block expects."""
    code = re.sub(r"""data=(["'])([^"']+)\1""", lambda m: f'data="{env.data(m.group(2), "train")}"', code)
    code = re.sub(r"\bepochs=\d+", "epochs=1", code)
    code = re.sub(r"\bimgsz=\d+", "imgsz=64", code)
    for path in re.findall(r"""["']([^"'\s]+\.pt)["']""", code):
        if not re.search(rf"YOLO\(\s*[\"']{re.escape(path)}", code):  # weights the block reads, not the one it trains
            env.weights(path)
    for folder in re.findall(r"""predict\(\s*["']([^"']+/)["']""", code):
        env.frames(folder)
    call = re.search(r"\.train\(([^\n]*)\)", code)
    assert call, "the README's Python block no longer trains: update this recipe"
    project = env.tmp / "runs" / "detect"
    extra = dict(batch="4", nbs="4", workers="0", device='"cpu"', plots="False", project=repr(str(project)),
                 name='"train"', exist_ok="True")
    extra = ", ".join(f"{k}={v}" for k, v in extra.items() if not re.search(rf"\b{k}=", call.group(1)))
    code = code[:call.start(1)] + extra + ", " + code[call.start(1):]
    namespace = {"__name__": "__readme__"}
    exec(compile(code, str(README) + ":python", "exec"), namespace)
    loads = re.findall(r"""YOLO\(\s*["']([^"']+)["']\)""", code)
    for path in loads:  # the checkpoint the block loads in plain Ultralytics is the one it trained
        assert (env.tmp / path).is_file(), f"{path} not written by the block's training"
        assert (env.tmp / path).with_suffix(".onnx").is_file(), "model.export(format='onnx') wrote no .onnx"
    assert loads, "the README's Python block no longer loads a checkpoint in plain Ultralytics"


# ---------------------------------------------------------------------------------------------- dispatch

FDET = {
    "train": fdet_train,
    "val": fdet_val,
    "predict": fdet_predict,
    "export": fdet_export,
    "benchmark": fdet_benchmark,
    "data list": fdet_data_list,
    "data prepare": fdet_data_prepare,
    "data convert": fdet_data_convert,
    "data tile": fdet_data_tile,
    "help": fdet_help,
    "cam": fdet_cam,
    "track": fdet_track,
    "inspect": fdet_inspect,
}


def recipe(item: Documented):
    """(function, argument) that runs the item, or None when this file has no tiny recipe for it."""
    if item.kind == "python":
        return python_block, item.run
    words = shlex.split(item.run)
    if words[0] == "fdet":
        mode = " ".join(words[1:3]) if words[1:2] == ["data"] else (words[1] if len(words) > 1 else "help")
        if mode in FDET:
            return FDET[mode], words[1:]
    if words[0] == "python" and len(words) > 1 and words[1] in TINY_SCRIPT:
        return python_script, item.run
    return None


@pytest.mark.parametrize("item", ITEMS, ids=IDS)
def test_documented_command(item, tmp_path, monkeypatch, capsys, request):
    if item.kind != "python" and item.run in SKIP:
        pytest.skip(SKIP[item.run])
    found = recipe(item)
    if found is None:
        pytest.fail(f"README.md documents '{item.run}' but {Path(__file__).name} has no tiny recipe to run it: "
                    f"add one (or, if it cannot run in a test, add it to SKIP with the reason)", pytrace=False)
    run, arg = found
    run(arg, Env(tmp_path, monkeypatch, capsys, request))
