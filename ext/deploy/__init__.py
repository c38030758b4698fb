"""Using a trained model, for every family (through `ext.Detector`): sliced prediction of small parts in large frames
(`predict.py`, `slice=`), the INT8 ONNX export (`export.py`, `format=onnx quantize=8`) and the formats side by side
on the user's hardware (`benchmark.py`, `fdet benchmark`)."""
