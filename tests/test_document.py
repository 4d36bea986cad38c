"""Documents: Markdown, LaTeX that compiles, the PDF path, the figures, and docs/ kept fresh."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from symact import catalog, cli, document
from symact.document import catalog_markdown, entry_markdown, render, stale, tex_escape, tex_text
from symact.plots import function_figure

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HAS_TEX = document.pdf_available() is not None
needs_tex = pytest.mark.skipif(not HAS_TEX, reason="pdflatex/latexmk (TeX Live) is not installed")


@pytest.fixture(scope="session")
def rendered_catalog():
    """The whole catalog's documents in memory, rendered once per test session."""
    return render(catalog.entries(), document.FORMATS, catalog=True, separate_tex=False)


@pytest.fixture(scope="session")
def compiled_catalog(rendered_catalog, tmp_path_factory):
    """catalog.tex (every entry's section) compiled once per test session."""
    if not HAS_TEX:
        pytest.skip("pdflatex/latexmk (TeX Live) is not installed")
    out = tmp_path_factory.mktemp("catalog")
    document.write(rendered_catalog, out, ("tex", "pdf"))
    return out


def test_docs_are_fresh(rendered_catalog):
    problems = stale(rendered_catalog, DOCS, ("catalog.pdf",))
    assert not problems, f"docs/ is stale ({problems[:5]}); run `{document.REGENERATE}`"


def test_stale_reports_changed_missing_and_extra_files(rendered_catalog, tmp_path):
    files = dict(list(rendered_catalog.files.items())[:3])
    small = document.Rendered(files, ())
    document.write(small, tmp_path, ("md", "tex"))
    assert stale(small, tmp_path) == []
    first = sorted(files)[0]
    (tmp_path / first).write_bytes(b"edited")
    (tmp_path / "stray.md").write_text("x")
    problems = stale(small, tmp_path, ("catalog.pdf",))
    assert f"out of date: {first}" in problems
    assert "not generated: stray.md" in problems
    assert "missing: catalog.pdf" in problems


def test_catalog_markdown_links_every_entry(rendered_catalog):
    text = rendered_catalog.files["catalog.md"].decode()
    for name in catalog.names():
        assert f"({name}.md)" in text
        assert f"{name}.md" in rendered_catalog.files
    assert "## Comparison of the elementwise activations" in text
    assert "figures/family_classic.svg" in text


def test_sigmoid_markdown_shows_the_chain_the_properties_and_the_figure():
    text = entry_markdown(catalog.get("sigmoid"))
    assert r"\left(1 - \sigma\left(x\right)\right)" in text
    assert r"y \left(1 - y\right)" in text
    assert r"&= \frac{e^{- x}}{\left(1 + e^{- x}\right)^{2}}" in text
    assert r"| max $\lvert f' \rvert$ | $\frac{1}{4}$ at $x = 0$ |" in text
    assert "![sigmoid and its derivative](figures/sigmoid.svg)" in text


def test_the_step_s_range_is_the_set_of_its_two_values_in_every_format():
    step = catalog.get("step")
    assert r"| range | $\lbrace 0, 1 \rbrace$ |" in entry_markdown(step)
    assert r"range & $\lbrace 0, 1 \rbrace$ \\" in document.entry_tex(step)
    comparison = [line for line in catalog_markdown(catalog.entries()).splitlines() if line.startswith("| step |")]
    assert comparison and r"$\lbrace 0, 1 \rbrace$" in comparison[0] and "[0, 1]" not in comparison[0]


def test_an_output_form_equal_to_the_textbook_form_is_not_repeated():
    softmax = catalog.get("softmax")
    jacobian = r"{p}_{i} \left(\delta_{i j} - {p}_{j}\right)"
    tex = document.entry_tex(softmax)
    gradients = tex[tex.index("{Gradients}") : tex.index("{References}")]
    assert gradients.count(jacobian) == 1 and "(output form)" not in gradients
    assert r"\text{(also the output form)}" in gradients
    table = entry_markdown(softmax).split("## Gradients")[1]
    assert table.count(jacobian) == 1 and "same as the textbook form" in table
    log_softmax = document.entry_tex(catalog.get("log_softmax"))  # a different output form is still shown
    assert r"e^{{o}_{j}}" in log_softmax and "(output form)" in log_softmax


def test_prose_maths_is_typeset_in_tex_and_kept_as_maths_in_markdown():
    from symact.derive import derive
    from symact.serialize import derivation_text

    entry = catalog.get("softmax_cross_entropy_with_logits")
    for page in (document.entry_tex(entry), entry_markdown(entry)):
        assert r"$-\sum_k y_k \log p_k$" in page and r"$\sum_k y_k = 1$" in page  # summary, input, notes
        assert r"sum\_k" not in page and not re.search(r"(?<!\\)sum_k", page)
    assert r"\texttt{tf.\allowbreak{}nn.\allowbreak{}leaky\_" in document.entry_tex(catalog.get("leaky_relu"))
    assert derivation_text(derive(entry)).splitlines()[0].endswith("soft labels y: -sum_k y_k log p_k.")


def _user_mish():
    import sympy

    from symact.catalog.symbols import x
    from symact.derive import user_entry

    return user_entry("my_mish", x * sympy.tanh(sympy.log(1 + sympy.exp(x))))


def _display_rows(tex):
    """The rows of every align* environment in ``tex``, without their text notes."""
    rows = []
    for block in re.findall(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", tex, re.S):
        rows += [row.split(r"\text{")[0] for row in block.split(" \\\\\n")]
    return rows


def test_long_formulas_are_broken_over_lines_not_shrunk():
    tex = document.entry_tex(_user_mish())
    assert r"\scalebox" not in tex and r"\resizebox" not in tex.split(r"\section{my")[1]
    rows = _display_rows(tex)
    assert any(row.startswith(r"&\quad {} + ") for row in rows)  # a second derivative over several lines
    for row in rows:
        assert document.math_width(row.split("&=")[-1]) <= document.LINE_CHARS, row
        assert row.count(r"\left") == row.count(r"\right"), row


def test_break_formula_keeps_every_line_balanced_and_the_formula_whole():
    formula = r"x \left(1 - \tanh^{2}{\left(u + v \right)}\right) \sigma\left(x\right) - 2 x \sigma\left(x\right) + y"
    lines = document.break_formula(formula, width=12)
    assert len(lines) > 1
    for line in lines:
        assert line.count(r"\left") == line.count(r"\right") and line.count("{") == line.count("}")
    joined = " ".join(lines).replace(r"\right.", "").replace(r"\left.", "").replace("{} ", "")
    assert joined.split() == formula.split()
    assert r"u + v" in "".join(lines)  # never broken inside a brace group
    assert document.break_formula("a + b") == ["a + b"]


@needs_tex
def test_no_line_of_a_long_derivation_is_wider_than_the_page(tmp_path):
    (tmp_path / "my_mish.tex").write_text(document.entry_tex(_user_mish()))
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "my_mish.png").write_bytes(function_figure(_user_mish()).png)
    done = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "my_mish.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "my_mish.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log, [line for line in log.splitlines() if "Overfull" in line]


def test_markdown_tables_have_no_stray_pipes():
    text = catalog_markdown(catalog.entries())
    table = [line for line in text.splitlines() if line.startswith("| ")]
    widths = {line.count("|") - line.count(r"\|") for line in table}
    assert len(widths) == 1


def test_tex_escaping():
    assert tex_escape("a_b & 50% #1 {x} ~ ^") == r"a\_b \& 50\% \#1 \{x\} \textasciitilde{} \textasciicircum{}"
    assert tex_text("leaky_relu: $x_i^2$") == r"leaky\_relu: $x_i^2$"


def test_figures_are_deterministic():
    one, two = function_figure(catalog.get("mish")), function_figure(catalog.get("mish"))
    assert one.svg == two.svg and one.png == two.png
    assert b"<dc:date>" not in one.svg
    assert one.png.startswith(b"\x89PNG")


@needs_tex
def test_every_entry_compiles_in_the_catalog_pdf(compiled_catalog):
    pdf = (compiled_catalog / "catalog.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    tex = (compiled_catalog / "catalog.tex").read_bytes()
    assert document.pdf_source_hash(pdf) == document.tex_hash(tex)
    for name in catalog.names():
        assert f"\\section{{{tex_escape(name)}}}".encode() in tex


@needs_tex
def test_pdf_bytes_are_reproducible(compiled_catalog, rendered_catalog, tmp_path):
    document.write(rendered_catalog, tmp_path, ("pdf",))
    again, first = (tmp_path / "catalog.pdf").read_bytes(), (compiled_catalog / "catalog.pdf").read_bytes()
    # not `again == first` itself: pytest's diff of two 760 KB byte strings runs for half an hour
    differ = next((k for k, (u, v) in enumerate(zip(again, first)) if u != v), min(len(again), len(first)))
    assert again == first, (
        f"{len(again)} and {len(first)} bytes, first difference at byte {differ}: "
        f"{again[differ - 80 : differ + 80]!r} / {first[differ - 80 : differ + 80]!r}"
    )


@needs_tex
def test_a_standalone_entry_compiles(tmp_path):
    assert cli.main(["doc", "elu", "--out", str(tmp_path), "--format", "tex,pdf"]) == 0
    assert (tmp_path / "elu.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "figures" / "elu.png").exists()


def test_without_tex_pdf_fails_in_one_line_and_md_tex_still_work(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(document.shutil, "which", lambda tool: None)
    assert cli.main(["doc", "relu", "--out", str(tmp_path), "--format", "md,tex,pdf"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pdflatex" in err
    assert cli.main(["doc", "relu", "--out", str(tmp_path), "--format", "md,tex"]) == 0
    assert (tmp_path / "relu.md").exists() and (tmp_path / "relu.tex").exists()


def test_user_expression(tmp_path):
    code = cli.main(["doc", "--expr", "x*tanh(log(1 + exp(x)))", "--name", "my_mish", "--out", str(tmp_path)])
    assert code == 0
    text = (tmp_path / "my_mish.md").read_text()
    assert "## Step by step" in text and "not monotonic" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["doc", "--format", "docx"],
        ["doc", "no_such_function"],
        ["doc", "--name", "lonely"],
        ["doc", "--expr", "x**2"],
        ["doc", "--expr", "__import__('os')", "--name", "bad"],
        ["doc", "--expr", "x", "--name", "bad name"],
        ["doc", "sigmoid", "--check"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, capsys, tmp_path):
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symact")


def test_check_fails_on_a_stale_directory(tmp_path, capsys):
    if DOCS.exists():
        shutil.copytree(DOCS, tmp_path / "docs")
    (tmp_path / "docs" / "sigmoid.md").write_text("stale\n")
    assert cli.main(["doc", "--check", "--out", str(tmp_path / "docs")]) == 1
    captured = capsys.readouterr()
    assert "out of date: sigmoid.md" in captured.out
    assert "symact doc" in captured.err


def test_a_pole_leaves_out_the_properties_with_a_reason(tmp_path):
    assert cli.main(["doc", "--expr", "1/x", "--name", "reciprocal", "--out", str(tmp_path), "--format", "md"]) == 0
    text = (tmp_path / "reciprocal.md").read_text()
    assert "Properties are not derived" in text and "x = 0" in text
    assert (tmp_path / "figures" / "reciprocal.svg").exists()
