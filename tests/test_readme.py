"""The README's Python examples run and print what it says."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_examples_run_and_print_what_they_claim():
    blocks = _python_blocks()
    assert len(blocks) >= 2
    first = blocks[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(first, "README.md", "exec"), {})
    claimed = [line.split("#")[1].strip() for line in first.splitlines() if "print(" in line and "#" in line]
    assert out.getvalue().split("\n")[:-1] == claimed
    for block in blocks[1:]:
        if "unary(" in block:  # an excerpt of tapegrad/ops, shown for how a primitive is declared
            continue
        block = textwrap.dedent(block)  # a block inside a list item is indented
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile("import numpy as np\nimport tapegrad as tg\n" + block, "README.md", "exec"), {})
        for line in block.splitlines():  # a printed tensor's claimed value, as "# tensor(...)"
            if line.startswith("print(") and "# tensor(" in line:
                claimed = line.split("# ")[1].split(", as ")[0].strip()
                assert claimed in out.getvalue()
