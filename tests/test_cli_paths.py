"""The command line's output paths: user modules never replace catalog modules nor land in generated/
unasked, writing and --check agree on extra files, files get ordinary permissions, and a bad path is
one line and exit 2 with nothing left behind."""

import os
import shlex
import stat
from pathlib import Path

import pytest

from symact.cli import main

GENERATED = Path(__file__).resolve().parent.parent / "generated"


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1 and "Traceback" not in err


def tree(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))


@pytest.mark.parametrize("name", ["sigmoid", "logistic", "heaviside", "softmax"])
def test_generate_expr_refuses_a_catalog_name(capsys, tmp_path, name):
    code, _, err = run(capsys, "generate", "--expr", "x*tanh(softplus(x))", "--name", name, "--out", tmp_path)
    assert code == 2 and one_line(err) and "catalog entry" in err and f"--name my_{name}" in err
    assert list(tmp_path.iterdir()) == []


def test_generate_expr_needs_its_own_out(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "generate", "--expr", "x*tanh(softplus(x))", "--name", "my_mish")
    assert code == 2 and one_line(err) and "--expr needs --out DIR" in err
    assert list(tmp_path.iterdir()) == []  # no generated/my_mish.py


@pytest.mark.parametrize("name", ["../evil", "a/b", "class", "1st", "my-mish", "x" * 65, "ünï"])
@pytest.mark.parametrize("command", ["generate", "doc"])
def test_a_name_that_is_no_module_name_is_refused(capsys, tmp_path, name, command):
    out = tmp_path / "out"
    code, _, err = run(capsys, command, "--expr", "x**2", "--name", name, "--out", out)
    assert code == 2 and one_line(err) and "--name" in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_catalog(monkeypatch):
    """A catalog of three entries for the commands run in this process: these tests are about output folders,
    not about what each module holds, and rendering the whole catalog cold takes minutes (tests/test_readme.py
    runs the README's `symact generate` and `symact doc` on all of it)."""
    from symact import catalog

    names = ("relu", "step", "mse")
    monkeypatch.setattr(catalog, "entries", lambda: [catalog.get(name) for name in names])
    return names


def test_generate_and_check_agree_on_extra_files(capsys, tmp_path, small_catalog):
    gen = tmp_path / "gen"
    gen.mkdir()
    for name in small_catalog:
        (gen / f"{name}.py").write_bytes((GENERATED / f"{name}.py").read_bytes())
    assert run(capsys, "generate", "--out", gen)[0] == 0
    assert run(capsys, "generate", "--expr", "x**2", "--name", "mine", "--out", gen)[0] == 0
    written, checked = run(capsys, "generate", "--out", gen), run(capsys, "generate", "--out", gen, "--check")
    for code, out, err in (written, checked):
        assert code == 1 and f"extra: {gen}/mine.py" in out and "up to date" not in out
        assert one_line(err) and "deletes nothing" in err
    assert (gen / "mine.py").exists()  # never deleted
    (gen / "mine.py").unlink()
    for args in (("generate", "--out", gen), ("generate", "--out", gen, "--check")):
        code, out, _ = run(capsys, *args)
        assert code == 0 and "up to date" in out


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_modules_have_ordinary_permissions(capsys, tmp_path, umask_022):
    assert run(capsys, "generate", "relu", "--out", tmp_path)[0] == 0
    assert run(capsys, "generate", "--expr", "x**3", "--name", "cube", "--out", tmp_path)[0] == 0
    for name in ("relu.py", "cube.py"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644
    os.chmod(tmp_path / "cube.py", 0o664)  # a rewritten file keeps its mode, as open() would
    (tmp_path / "cube.py").write_text("stale\n")
    assert run(capsys, "generate", "--expr", "x**3", "--name", "cube", "--out", tmp_path)[0] == 0
    assert stat.S_IMODE((tmp_path / "cube.py").stat().st_mode) == 0o664


def test_bench_output_is_written_whole_with_ordinary_permissions(tmp_path, umask_022):
    from symact.commands._common import write_text

    target = tmp_path / "bench.md"
    write_text(target, "table\n")
    assert target.read_text() == "table\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["bench.md"]


QUICK_BENCH = ["--sizes", "1000", "--dtypes", "float64", "--threads", "1", "--modes", "out", "--ops", "forward"]
QUICK_BENCH += ["--rounds", "1", "--quiet"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["doc", "sigmoid", "--format", "md", "--out", "{file}/notes"], "--out {file}/notes: {file} is a file"),
        (["doc", "sigmoid", "--format", "md", "--out", "{file}"], "--out {file}: {file} is a file"),
        (["generate", "--expr", "x**2", "--name", "k", "--out", "{file}/k"], "--out {file}/k: {file} is a file"),
        (["generate", "relu", "--out", "{file}/deeper/k"], "--out {file}/deeper/k: {file} is a file"),
        (["generate", "relu", "--check", "--out", "{file}"], "--out {file}: {file} is a file"),
        (["doc", "--check", "--format", "md", "--out", "{file}"], "--out {file}: {file} is a file"),
        (["check", "relu", "--dir", "{file}"], "--dir {file}: {file} is a file"),
        (["check", "relu", "--dir", "{tmp}/none"], "--dir {tmp}/none: no such folder"),
        (["bench", "relu", "--dir", "{file}", *QUICK_BENCH], "--dir {file}: {file} is a file"),
        (["bench", "relu", "--markdown", "{file}/b.md", *QUICK_BENCH], "--markdown {file}/b.md: {file} is a file"),
        (["bench", "relu", "--json", "{tmp}/none/b.json", *QUICK_BENCH], "the folder {tmp}/none does not exist"),
        (["bench", "relu", "--markdown", "{tmp}", *QUICK_BENCH], "--markdown {tmp}: {tmp} is a folder"),
    ],
)
def test_a_bad_path_is_one_line_naming_it(capsys, tmp_path, args, message):
    file = tmp_path / "notes.txt"
    file.write_text("a file\n")
    before = tree(tmp_path)
    fill = {"file": str(file), "tmp": str(tmp_path)}
    code, _, err = run(capsys, *(a.format(**fill) for a in args))
    assert code == 2 and one_line(err), err
    assert message.format(**fill) in err
    assert tree(tmp_path) == before  # nothing half-written, no stray temporary file


def test_an_os_error_while_writing_is_one_line(capsys, tmp_path, monkeypatch):
    def full(src, dst):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(os, "replace", full)
    code, _, err = run(capsys, "generate", "relu", "--out", tmp_path)
    assert code == 2 and one_line(err) and f"cannot write {tmp_path}/relu.py: no space left" in err
    assert list(tmp_path.iterdir()) == []


def test_doc_check_names_the_folder_and_the_command_that_regenerates_it(capsys, tmp_path, small_catalog):
    out = tmp_path / "my docs"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    code, _, err = run(capsys, "doc", "--check", "--out", out, "--format", "md")
    assert code == 1 and one_line(err) and f"{out} is stale" in err
    command = err.split("run `", 1)[1].split("`", 1)[0]
    assert command == f"symact doc --out '{out}' --format md" and "not generated" in err
    assert run(capsys, *shlex.split(command)[1:])[0] == 0  # the command given, as given
    (out / "notes.txt").unlink()
    code, stdout, _ = run(capsys, "doc", "--check", "--out", out, "--format", "md")
    assert code == 0 and "up to date" in stdout
