"""Generated modules load every ordinary way, in new processes, and no load breaks a later one.

Numba's cache next to a module records the name of the module that compiled it; each test runs a
sequence of processes over one copy of a module (so one cache), each loading it a different way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: one elementwise module (vecmath, intrinsics, overloads) and one row module
MODULES = ["sigmoid", "hardmax"]

_CALL = """
import numpy as np
x = np.array([[-1.0, 0.5, 2.0]])
r = m.forward(x)
assert r.shape == (1, 3), r
print("OK", float(m.forward(np.array([0.0]))[0]))
"""

WAYS = {
    "symact.load": "import symact\nm = symact.load({path!r})\n",
    "sys.path": "import sys\nsys.path.insert(0, {folder!r})\nimport {name} as m\n",
    "spec, registered": (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('mine', {path!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['mine'] = m; spec.loader.exec_module(m)\n"
    ),
    "spec, unregistered": (
        "import importlib.util\n"
        "spec = importlib.util.spec_from_file_location('other', {path!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
    ),
    "spec, dotted name": (
        "import importlib.util\n"
        "spec = importlib.util.spec_from_file_location('a.b.c', {path!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
    ),
    "symact.check": "from symact.check import load_module\nm = load_module({name!r}, {folder!r})\n",
}


def _run(code: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300, env=_env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _env():
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("NUMBA_DISABLE_JIT", None)
    return env


@pytest.mark.parametrize("name", MODULES)
def test_every_way_in_every_order(tmp_path, name):
    """Each way of loading, one process after another over the same cache: every one works, and the
    cache written by the first is used by the others (their kernels are not compiled again)."""
    folder = tmp_path / "kernels"
    folder.mkdir()
    path = folder / f"{name}.py"
    shutil.copy(ROOT / "generated" / f"{name}.py", path)
    order = list(WAYS) + list(reversed(WAYS))  # each way both after and before every other
    for way in order:
        code = WAYS[way].format(path=str(path), folder=str(folder), name=name) + _CALL
        out = _run(code, tmp_path)
        assert "OK" in out, (way, out)
    assert list((folder / "__pycache__").glob(f"{name}.*.nbi")), "Numba wrote no cache"


def test_copy_inside_a_package(tmp_path):
    """A copy inside a user's package imports by its dotted name, after and before a plain load."""
    package = tmp_path / "mypkg" / "kernels"
    package.mkdir(parents=True)
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "generated" / "sigmoid.py", package / "act.py")
    dotted = "from mypkg.kernels import act as m\n" + _CALL
    plain = WAYS["spec, registered"].format(path=str(package / "act.py")) + _CALL
    for code in (dotted, plain, dotted):
        assert "OK 0.5" in _run(code, tmp_path)


def test_two_copies_in_one_process(tmp_path):
    """Two copies of a module, loaded side by side in one process under different names, both work."""
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(ROOT / "generated" / "sigmoid.py", tmp_path / sub / "sigmoid.py")
    code = textwrap.dedent(
        f"""
        import symact, numpy as np
        a = symact.load({str(tmp_path / "a" / "sigmoid.py")!r})
        b = symact.load({str(tmp_path / "b" / "sigmoid.py")!r})
        assert a is not b
        assert a.forward(np.array([0.0]))[0] == b.forward(np.array([0.0]))[0] == 0.5
        print("OK")
        """
    )
    for _ in range(2):  # cold, then from the caches
        assert "OK" in _run(code, tmp_path)


def test_load_by_name_and_errors(tmp_path):
    import symact
    from symact.errors import SymactError
    from symact.loader import KernelNotFoundError

    module = symact.load("sigmoid", ROOT / "generated")
    assert module is symact.load(ROOT / "generated" / "sigmoid.py")
    with pytest.raises(KernelNotFoundError, match="run 'symact generate no_such'"):
        symact.load("no_such")
    with pytest.raises(KernelNotFoundError, match="no generated module"):
        symact.load(tmp_path / "missing.py")
    with pytest.raises(SymactError, match="neither a module name nor a path"):
        symact.load("not a name")


def test_module_name_is_fixed_and_distinct():
    """The fixed name each module registers is deterministic and differs between modules."""
    from symact.module_identity import PLACEHOLDER

    names = set()
    for path in sorted((ROOT / "generated").glob("*.py")):
        text = path.read_text()
        assert PLACEHOLDER not in text
        line = next(line for line in text.splitlines() if line.startswith("__name__ = one_name("))
        names.add(line)
        assert f'"symact_kernel_{path.stem}_' in line
    assert len(names) == len(list((ROOT / "generated").glob("*.py")))
