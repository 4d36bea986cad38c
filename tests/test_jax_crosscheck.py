"""The JAX and optax cross-check (tests/jax_crosscheck.py), run in a process of its own.

JAX starts threads as it is imported, and a process with JAX's threads must not fork; the rest of the suite
forks (the time budgets of ``verify`` and ``prove``).  So JAX is never imported into the suite's process:
this test runs the cross-check's own pytest in a new one.  Skipped when JAX is not installed.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax jaxlib)")
def test_jax_and_optax_agree_in_a_process_of_their_own():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "tests/jax_crosscheck.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
