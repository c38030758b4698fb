"""README.md's documented commands, as the tests read them: each line of a ```bash block (lines ending in `\\` joined,
trailing `# comments` dropped, `a && b` split in two), each ```python block as a whole, and the PROSE commands.
Optional `[...]` words of a command (`[quantize=8 split=train]`) give a second variant with their contents included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

# Commands that cannot run inside a test, exactly as the README writes them (after splitting `a && b`).
SKIP = {
    "pip install -e .": "installs the package: the tests run on the installed package and must not reinstall it",
    'pip install -e ".[test]"': "installs the package with its test extras: the tests already run on that install",
    "pytest": "runs the whole test suite, of which this file is a part",
}

# Commands the README documents in its prose (inline code) rather than in a code block, run here as well.
PROSE = {"python train_gjadet.py": "Quick start: `python train_gjadet.py` does the same (as train_hsd.py) for GJADet"}

OPTIONAL = re.compile(r"(?<!\S)\[([^\]]*)\]")  # a whole word in brackets, not `key=[a,b]`


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


def item_ids(items: list[Documented]) -> list[str]:
    """The test ids of `items`, a repeated id numbered `#2`, `#3`, ..."""
    seen: dict = {}
    return [item_id(i, seen) for i in items]


ITEMS = documented()
IDS = item_ids(ITEMS)
