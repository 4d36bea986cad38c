"""The command line's output paths: files get ordinary permissions."""

import os
import stat

import pytest

from symact.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_modules_have_ordinary_permissions(capsys, tmp_path, umask_022):
    assert run(capsys, "generate", "relu", "step", "--out", tmp_path)[0] == 0
    for name in ("relu.py", "step.py"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    os.chmod(tmp_path / "step.py", 0o664)  # a rewritten file keeps its mode, as open() would
    (tmp_path / "step.py").write_text("stale\n")
    assert run(capsys, "generate", "relu", "step", "--out", tmp_path)[0] == 0
    assert stat.S_IMODE((tmp_path / "step.py").stat().st_mode) == 0o664
