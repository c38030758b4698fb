"""Every command of README.md's fenced code blocks runs, at a tiny scale, so that a documented command cannot break
unnoticed.

The commands are read from README.md when the tests run (readme_commands.py): each line of a ```bash block and each
```python block as a whole, a command with optional `[...]` words also with their contents included. Each command is
matched to a recipe that runs it in-process (recipes.py: `ext.cli.main` for `fdet`; recipes_scripts.py: the script
itself for `python train_*.py`, `exec` for a Python block) after scaling it down (tiny_env.py): catalog sets to their
tiny versions, `epochs` to 1, `imgsz` to 64, file names such as `best.pt` or `path/to/images` made to exist in the
test's own folder (the working directory), and then checks what the mode promises to leave on disk. A README command
without a recipe fails, naming it; commands that cannot run inside a test are in `SKIP`, with the reason.
"""

from __future__ import annotations

import pytest
from readme_commands import IDS, ITEMS, PROSE, SKIP
from recipes import recipe
from recipes_scripts import run_script
from tiny_env import Env


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


@pytest.mark.parametrize("item", ITEMS, ids=IDS)
def test_documented_command(item, tmp_path, monkeypatch, capsys, request):
    if item.kind != "python" and item.run in SKIP:
        pytest.skip(SKIP[item.run])
    found = recipe(item)
    if found is None:
        pytest.fail(f"README.md documents '{item.run}' but tests/docs/recipes.py has no tiny recipe to run it: "
                    f"add one (or, if it cannot run in a test, add it to SKIP in readme_commands.py with the reason)",
                    pytrace=False)
    run, arg = found
    run(arg, Env(tmp_path, monkeypatch, capsys, request))
