"""The LaTeX tables compile with pdflatex, booktabs and graphicx (Debian's
texlive-latex-recommended), with no character lost. Skips only where pdflatex is absent
(.ci/run installs it)."""
import shutil
import subprocess
from pathlib import Path

import pytest

from report_fixture import build_fixture
from reports import build

ROOT = Path(__file__).resolve().parent.parent
PDFLATEX = shutil.which("pdflatex")
pytestmark = pytest.mark.skipif(PDFLATEX is None, reason="no pdflatex (Debian: apt-get install "
                                "texlive-latex-recommended; .ci/run installs it)")
DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
\input{%s}
\end{document}
"""


def compile_tables(tex: Path, folder: Path) -> str:
    """pdflatex's log for a document that inputs tex; fails the test when pdflatex does."""
    (folder / "doc.tex").write_text(DOCUMENT % tex.resolve().as_posix())
    run = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                         cwd=folder, capture_output=True, text=True, timeout=300)
    log = (folder / "doc.log").read_text(errors="replace")
    assert run.returncode == 0, log[-3000:]
    assert (folder / "doc.pdf").stat().st_size > 0
    return log


@pytest.fixture(scope="module")
def fixture_tables(tmp_path_factory):
    fixture = build_fixture(tmp_path_factory.mktemp("latex"))
    build.main(fixture["argv"])
    return sorted((fixture["base"] / "reports" / "demo").glob("*.tex"))


def test_the_fixture_tables_compile(fixture_tables, tmp_path):
    assert [t.name for t in fixture_tables] == ["box.tex", "irr.tex"]
    for tex in fixture_tables:
        folder = tmp_path / tex.stem
        folder.mkdir()
        log = compile_tables(tex, folder)
        assert "Missing character" not in log and "Overfull" not in log


@pytest.mark.parametrize("tex", sorted((ROOT / "reports").glob("*/*.tex")),
                         ids=lambda tex: f"{tex.parent.name}/{tex.name}")
def test_each_built_reports_tables_compile(tex, tmp_path):
    log = compile_tables(tex, tmp_path)
    assert "Missing character" not in log
