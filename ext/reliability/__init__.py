"""What keeps a long training run safe and repeatable, added to Ultralytics' training loop by `ExtTrainer`
(ext/models/detector/train.py), one unit per file: steps with a non-finite loss skipped (`nonfinite.py`), an exactly
reproducible resume (`exact_resume.py`), loss statistics carried through checkpoints written atomically
(`checkpoints.py`), and the backbone freeze schedule for a loaded backbone (`freeze.py`). Each is a set of trainer
callbacks or small wrappers; none of them builds a model or a loss."""
