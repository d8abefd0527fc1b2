"""Where a report came from: code version, software, hardware, seeds, input digests, and the
score stage's own provenance files. Each section is a list of (label, value) rows."""
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from datasets.io import sha256_file
from metrics.weights import KNOWN

# Distribution names (paddle is read from metadata: importing it takes many seconds).
PACKAGES = ["torch", "torchvision", "paddlepaddle", "numpy", "scikit-image",
            "opencv-python-headless", "lpips", "pytorch-fid", "snakemake", "pandas",
            "matplotlib", "pillow"]


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    # --no-optional-locks: a report build must never write to .git (e.g. refresh the index).
    return subprocess.run(["git", "--no-optional-locks", "-C", str(repo), *args],
                          capture_output=True, text=True, check=False)


def git_commit(repo: Path) -> str:
    try:
        head = _git(repo, "rev-parse", "HEAD")
        inside = _git(repo, "rev-parse", "--is-inside-work-tree")
    except FileNotFoundError:
        return "unknown (git not installed)"
    if inside.returncode != 0:
        return "not a git repository"
    commit = head.stdout.strip() if head.returncode == 0 else "no commits yet"
    dirty = _git(repo, "status", "--porcelain").stdout.strip()
    return f"{commit} (dirty: uncommitted changes or untracked files)" if dirty else commit


def sha256(path: Path) -> str:
    path = Path(path)
    return sha256_file(path) if path.is_file() else f"missing ({path})"


def versions() -> list[tuple[str, str]]:
    rows = [("python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
            ("platform", platform.platform())]
    for name in PACKAGES:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return rows


def _proc_field(path: str, field: str) -> str | None:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.split(":")[0].strip() == field:
            return line.split(":", 1)[1].strip()
    return None


def gpu_name() -> str:
    """The GPUs nvidia-smi lists: asking torch would import it (about a second) into jobs and
    reports that never use it. A stage that runs on a GPU records its device itself."""
    try:
        listed = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired) as err:
        return f"none found (nvidia-smi: {type(err).__name__})"
    names = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
    return ", ".join(names) if names else f"none found (nvidia-smi exit {listed.returncode})"


def hardware() -> list[tuple[str, str]]:
    memory = _proc_field("/proc/meminfo", "MemTotal")
    if memory:
        memory = f"{int(memory.split()[0]) / 2**20:.1f} GiB"
    return [("CPU", _proc_field("/proc/cpuinfo", "model name") or platform.processor()
             or "unknown"),
            ("cores", str(os.cpu_count())),
            ("memory", memory or "unknown"),
            ("GPU", gpu_name())]


def score_provenance(path: Path) -> list[str]:
    """Date, host, duration and backbone lines of one score run's {weights}.json (written by
    metrics/score.py: environment() below plus one entry per backbone in KNOWN)."""
    if not path.is_file():
        return ["provenance file missing"]
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        return [f"provenance file unreadable: {error}"]
    shown = ("date_utc", "started", "finished", "host", "seconds", "device", *KNOWN,
             "fid_reference")
    lines = [line for key in shown if key in record for line in _flatten(record[key], f"{key}: ")]
    return lines or ["no date, host or backbone entries recorded"]


def _flatten(value, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [line for key, item in value.items()
                for line in _flatten(item, f"{prefix}{key}: ")]
    return [f"{prefix}{value}"]


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment() -> dict:
    """Where and with what a stage ran, JSON-serialisable; the predict and score stages merge
    it into their provenance records, the report shows the same fields for its own build."""
    return {"date_utc": now_utc(), "host": platform.node(), "git_commit": git_commit(Path.cwd()),
            "software": dict(versions()), "hardware": dict(hardware())}


def build_info(argv: list[str]) -> list[tuple[str, str]]:
    return [("git commit", git_commit(Path.cwd())),
            ("built (UTC)", now_utc()),
            ("command", " ".join(["python -m reports.build", *argv]))]
