"""The reduced demo through the SLURM profile on a real single-node SLURM (tests/slurm/).

Opt-in with INPAINT_SLURM_TEST=1: as root it installs Debian's Slurm, munge and MariaDB,
writes /etc/slurm/ and starts their daemons, and installs the executor plugin into this venv
with --no-deps (configs/profiles/slurm/requirements.txt says why), none of which a plain test run
should do to a machine. About 3 minutes on 2 CPUs once the packages are installed.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLURM = REPO / "tests" / "slurm"
BIN = Path(sys.executable).parent  # the venv's bin: the SLURM jobs inherit this PATH
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}

pytestmark = pytest.mark.skipif(os.environ.get("INPAINT_SLURM_TEST") != "1",
                                reason="starts system daemons as root: set INPAINT_SLURM_TEST=1")


@pytest.fixture(scope="module")
def cluster():
    """The local cluster of tests/slurm/start.sh, stopped afterwards if this test started it."""
    if os.geteuid() != 0:
        pytest.skip("tests/slurm/start.sh must run as root")
    if shutil.which("apt-get") is None:
        pytest.skip("tests/slurm/start.sh installs Debian packages and needs apt-get")
    sinfo = shutil.which("sinfo")
    was_up = bool(sinfo) and subprocess.run([sinfo, "-h"], capture_output=True).returncode == 0
    start = subprocess.run(["bash", str(SLURM / "start.sh")], capture_output=True, text=True,
                           timeout=900)
    if start.returncode != 0:
        pytest.skip(f"no local SLURM: tests/slurm/start.sh failed: {start.stderr[-1500:]}")
    yield
    if not was_up:
        subprocess.run(["bash", str(SLURM / "stop.sh")], capture_output=True, timeout=300)


def test_reduced_demo_runs_through_the_slurm_profile(cluster, tmp_path):
    """run_demo.sh in a copy of the source files (it writes results/ and retrains pconv short)
    checks that every planned job COMPLETED in sacct and that the report was built."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, tmp_path / name)
    run = subprocess.run(["bash", str(tmp_path / "tests/slurm/run_demo.sh"), str(tmp_path)],
                         env=ENV, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "OK: every planned job COMPLETED in sacct" in run.stdout
    assert (tmp_path / "reports/slurm_demo.html").stat().st_size > 0
