"""The README's snippets, run as a user runs them: every ``symact`` command line of its shell blocks (in a
scratch copy of generated/ and docs/, so that nothing in the repository is written) and every Python block,
each in a new process; a ``# value`` comment after a Python expression is the value it must show."""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")

#: command lines left out, with the reason (each is covered by a quicker line or test)
SLOW = {
    "symact check --full sigmoid": "minutes of float32 sweep; tests/test_kernels.py runs these checks on a thin grid",
}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def _command_lines() -> list[str]:
    lines = []
    for block in _blocks("sh"):
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if command.startswith("symact "):
                lines.append(line)
    return lines


COMMANDS = _command_lines()
PYTHON = _blocks("python")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["MPLBACKEND"] = "Agg"
    return env


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder where the README's commands run: a copy of generated/ and docs/, as in a clone."""
    folder = tmp_path_factory.mktemp("readme")
    for name in ("generated", "docs"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_the_readme_has_snippets():
    assert len(COMMANDS) >= 15 and len(PYTHON) >= 2
    assert all(line.split("  #")[0].strip() in (c.split("  #")[0].strip() for c in COMMANDS) for line in SLOW)


def _snippets() -> list[tuple[str, str]]:
    """The README's ``symact`` command lines and Python blocks, in the order a reader meets them (a later one
    may use what an earlier one wrote: ``check --expr ... --dir mykernels`` after ``generate ... --out
    mykernels``)."""
    found = []
    for language, block in re.findall(r"^```(sh|python)\n(.*?)^```", README, flags=re.S | re.M):
        if language == "python":
            found.append(("python", block))
        else:
            found.extend(
                ("sh", line) for line in block.splitlines() if line.split("  #", 1)[0].strip().startswith("symact ")
            )
    return found


def _run_command_line(line: str, folder: Path) -> str | None:
    """None where the line does what its comment says, else what went wrong."""
    command, _, comment = line.partition("  #")
    command = command.strip()
    if command in SLOW:
        return None
    expected = int(m.group(1)) if (m := re.search(r"\(exit (\d)\)", comment)) else 0  # "(exit 1)" in the comment
    args = shlex.split(command)[1:]
    result = subprocess.run(
        [sys.executable, "-m", "symact", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(),
    )
    if result.returncode != expected or "Traceback" in result.stderr:
        return f"{command}: exit {result.returncode}, not {expected}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return None


def _checked(block: str) -> str:
    """The block with each ``expression  # value`` line turned into a check that str() or repr() of the
    expression reads as the value (spaces aside)."""
    out = []
    for line in block.splitlines():
        code, sep, comment = line.partition("  #")
        try:
            is_expression = bool(sep) and isinstance(ast.parse(code.strip()).body[0], ast.Expr)
        except SyntaxError:
            is_expression = False
        if not is_expression:
            out.append(line)
            continue
        want = comment.strip().split(";")[0]
        out.append(
            textwrap.dedent(
                f"""
                _v = {code.strip()}
                _shown = [re.sub(r"\\s", "", str(_v)), re.sub(r"\\s", "", repr(_v))]
                assert re.sub(r"\\s", "", {want!r}) in _shown, ({code.strip()!r}, _shown, {want!r})
                """
            )
        )
    return "import re\n" + "\n".join(out)


def _run_python_block(block: str, folder: Path) -> str | None:
    result = subprocess.run(
        [sys.executable, "-c", _checked(block)], cwd=folder, capture_output=True, text=True, timeout=600, env=_env()
    )
    return None if result.returncode == 0 else f"Python block:\n{block}\n{result.stderr[-3000:]}"


def test_the_readme_runs_in_order_as_a_reader_runs_it(scratch):
    """Every snippet, one after the other in one folder (one test, so that pytest-xdist cannot split the
    sequence over its workers); every failing one is reported."""
    failures = []
    for language, text in _snippets():
        run = _run_python_block if language == "python" else _run_command_line
        failure = run(text, scratch)
        if failure is not None:
            failures.append(failure)
    assert not failures, "\n\n".join(failures)
