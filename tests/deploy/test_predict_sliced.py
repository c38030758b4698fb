"""Sliced inference (`slice=`): tile boxes land where the same pixels are predicted alone, merging follows sahi's
greedy rule, and `slice=0` is Ultralytics' prediction."""

import numpy as np
import pytest
import torch

import ext
from ext.deploy.predict import SlicedPredictor, merge_detections

LOW = dict(conf=1e-4, max_det=3000, verbose=False, device="cpu")


def test_merge_joins_same_class_overlaps_into_their_union():
    dets = torch.tensor([
        [0.0, 0.0, 10.0, 10.0, 0.9, 1.0],  # kept
        [5.0, 2.0, 12.0, 9.0, 0.6, 1.0],  # IOS = (5*7)/(7*7) = 0.71 >= 0.5: merged into the first
        [5.0, 2.0, 12.0, 9.0, 0.8, 2.0],  # same place, other class: kept apart
        [8.0, 8.0, 20.0, 20.0, 0.7, 1.0],  # IOS = 4/144: kept
    ])
    out = merge_detections(dets)
    expected = torch.tensor([[0.0, 0.0, 12.0, 10.0, 0.9, 1.0], [5.0, 2.0, 12.0, 9.0, 0.8, 2.0],
                             [8.0, 8.0, 20.0, 20.0, 0.7, 1.0]])
    torch.testing.assert_close(out, expected)
    assert merge_detections(torch.zeros((0, 6))).shape == (0, 6)


@pytest.fixture(scope="module")
def model(hsd_tiny_run):
    return ext.HSD(hsd_tiny_run / "weights" / "best.pt")


@pytest.fixture(scope="module")
def patch():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)


def boxes(results) -> torch.Tensor:
    return results[0].boxes.data.cpu()


def test_a_tile_is_predicted_like_the_same_pixels_alone(model, patch):
    """A 64 px patch pasted at a tile window of a 192x128 frame: with slice=64 and no overlap, its boxes are the
    patch's own boxes shifted by the window's corner (other tiles are flat grey; merging applies to both)."""
    alone = merge_detections(boxes(model.predict(patch, imgsz=64, **LOW)))
    assert len(alone), "the tiny model gives no box at conf 1e-4: nothing to compare"
    frame = np.full((128, 192, 3), 114, np.uint8)
    frame[64:128, 128:192] = patch
    sliced = boxes(model.predict(frame, imgsz=64, slice=64, slice_overlap=0.0, slice_full=False, **LOW))
    inside = sliced[(sliced[:, 0] >= 128) & (sliced[:, 1] >= 64)]
    expected = alone.clone()
    expected[:, [0, 2]] += 128
    expected[:, [1, 3]] += 64
    torch.testing.assert_close(inside, expected, atol=1e-3, rtol=0)


def test_tiles_larger_than_the_input_are_resized_like_a_full_image(model):
    """slice=128 at imgsz=64: the 128 px tile is letterboxed to 64 as the same 128 px image alone is."""
    img = np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    alone = merge_detections(boxes(model.predict(img, imgsz=64, **LOW)))
    frame = np.zeros((128, 256, 3), np.uint8)
    frame[:, :128] = img
    sliced = boxes(model.predict(frame, imgsz=64, slice=128, slice_overlap=0.0, slice_full=False, **LOW))
    torch.testing.assert_close(sliced[sliced[:, 2] <= 128], alone, atol=1e-3, rtol=0)


def test_full_frame_pass_is_merged_in(model, patch):
    """A frame that is one tile: tile and full-frame boxes coincide, so the result is the merge of either."""
    full = boxes(model.predict(patch, imgsz=64, **LOW))
    both = boxes(model.predict(patch, imgsz=64, slice=64, slice_full=True, **LOW))
    torch.testing.assert_close(both, merge_detections(full), atol=1e-4, rtol=0)


def test_slice_zero_is_ultralytics_prediction(model, patch):
    from ultralytics import YOLO

    ours = boxes(model.predict(patch, imgsz=64, **LOW))
    plain = boxes(YOLO(model.ckpt_path).predict(patch, imgsz=64, **LOW))
    torch.testing.assert_close(ours, plain)
    assert isinstance(model.predictor, SlicedPredictor)


def test_plain_yolo_takes_the_sliced_predictor(model, patch):
    from ultralytics import YOLO

    frame = np.full((64, 128, 3), 114, np.uint8)
    frame[:, 64:] = patch
    r = YOLO(model.ckpt_path).predict(frame, imgsz=64, slice=64, slice_overlap=0.0, slice_full=False,
                                      predictor=SlicedPredictor, **LOW)
    ours = model.predict(frame, imgsz=64, slice=64, slice_overlap=0.0, slice_full=False, **LOW)
    torch.testing.assert_close(boxes(r), boxes(ours))
    assert r[0].names == model.names


def test_same_boxes_as_sahis_own_sliced_prediction(model):
    """sahi's Ultralytics integration loads our checkpoint (after `import ext`) with our classes, and its
    get_sliced_prediction (no full-frame pass, greedy merging by IOS 0.5) gives our boxes."""
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction

    frame = np.random.default_rng(3).integers(0, 255, (128, 192, 3), dtype=np.uint8)
    dm = AutoDetectionModel.from_pretrained(model_type="ultralytics", model_path=str(model.ckpt_path),
                                            confidence_threshold=1e-3, device="cpu", image_size=64)
    assert list(dm.category_mapping.values()) == list(model.names.values())
    r = get_sliced_prediction(np.ascontiguousarray(frame[:, :, ::-1]), dm, slice_height=64, slice_width=64,
                              overlap_height_ratio=0.25, overlap_width_ratio=0.25, perform_standard_pred=False,
                              postprocess_type="GREEDYNMM", postprocess_match_metric="IOS",
                              postprocess_match_threshold=0.5, force_postprocess_type=True, verbose=0)
    theirs = torch.tensor([[*o.bbox.to_xyxy(), o.score.value, o.category.id] for o in r.object_prediction_list])
    ours = boxes(model.predict(frame, imgsz=64, conf=1e-3, slice=64, slice_overlap=0.25, slice_full=False,
                               verbose=False, device="cpu"))
    assert len(ours), "no box at conf 1e-3: nothing to compare"

    def order(t):
        return t[np.lexsort(t.numpy().T[::-1])]

    torch.testing.assert_close(order(ours.float()), order(theirs.float()), atol=1e-3, rtol=0)
