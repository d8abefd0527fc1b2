"""Operator-flipping mutation check: does a test fail when one operator or constant changes?

    python tests/mutate.py                                   # every mapped module
    python tests/mutate.py --modules metrics/ssim.py datasets/pairing.py
    python tests/mutate.py --source /tmp/pristine --max-per-module 25 --out /tmp/mutants.txt

The tracked files of --source (default: this checkout; `git ls-files`) are copied once into a
temporary folder, and every mutant is made and tested there, one at a time: the source tree is
never written to. A mutant is one change found with the `ast` module: a comparison swapped to a
neighbour (< <=, > >=, == !=, is / is not, in / not in), an arithmetic operator swapped (+ -,
* /, // /, % *, ** *, also in augmented assignments), `not` or unary minus removed, a number c
changed (0 -> 1, 1 -> 0, else c + 1), True <-> False, and <-> or, `return X` -> `return None`,
and a slice bound moved by +-1. Docstrings, f-strings, string operands, logging / print /
warnings calls and `raise` statements are never mutated (their text decides nothing). Each
mutant is named file:line:col:kind; the order is deterministic.

For each module, MODULES below names the fastest tests that exercise it; they must pass
unmutated in the copy first (else the script stops). A mutant is killed when they fail, or
when they run longer than max(60 s, 4 x their unmutated time), reported as "timeout".
--max-per-module N keeps an evenly spaced sample of N mutants of a larger module (the table
says so). Cost measured here (2 CPU cores shared with other work): one mutant is one pytest
run, 3-15 s (mostly 4-7 s) for the modules tested without tests/test_evaluation.py, 15-100 s
for the four tested through it (fid, score, fid_reference, predict: its fixture trains a
model; a killed mutant usually stops earlier under -x). All ~700 mutants of the map would take
about 3 hours; --max-per-module 12 took 50 minutes for 226 mutants (issue 12 baseline) and
43 minutes for 255 (after).
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutants import evenly_spaced, find_mutants

# Module -> the tests that exercise it: pytest arguments (files or node ids, fastest first, so
# that -x stops a killed mutant early) and an optional -k expression, which pytest applies to
# every file given (a file's own name selects all of it: "test_weights" matches its tests).
# A module only partly in scope names the functions whose bodies are mutated.
EVAL = "tests/test_evaluation.py"
SIZED_PAIRS = f"{EVAL}::test_the_sized_pairs_spread_over_masks_and_images"
METRIC_MATHS = {"tests": ["tests/test_metrics.py", "tests/test_score.py"], "k": "not lpips"}
MASKS = "tests/test_masks.py"
NVIDIA = "tests/test_nvidia_masks.py"  # its real-set tests (40 s) are deselected: "real_set"
FAULTS = "tests/test_faults.py"
RESUME = {"tests": ["methods/pconv/test_pconv_train.py", FAULTS, "tests/test_train_cli.py"],
          "k": "resumed or other_settings or ahead or resumable or diverg or gradient or "
               "empties_the_log or finetuning or fingerprint"}
PARALLEL = "tests/test_parallel.py"
RANKS = {"tests": [PARALLEL], "k": "pconv-torch or pconv-paddle or deepfill_v1-torch or split"}
MODULES = {
    "metrics/arrays.py": METRIC_MATHS,
    "metrics/psnr.py": METRIC_MATHS,
    "metrics/ssim.py": METRIC_MATHS,
    "metrics/l1.py": METRIC_MATHS,
    "metrics/fid.py": {"tests": ["tests/test_metrics.py", "tests/test_weights.py", EVAL],
                       "k": "fid or frechet or inception or test_evaluation"},
    "metrics/lpips.py": {"tests": ["tests/test_metrics.py", "tests/test_weights.py"],
                         "k": "lpips or test_weights"},
    "metrics/weights.py": {"tests": ["tests/test_weights.py",
                                     f"{EVAL}::test_a_job_without_torch_finds_torchs_hub_cache"]},
    "metrics/score.py": {"tests": [FAULTS, "tests/test_score.py", EVAL]},
    "metrics/fid_reference.py": {"tests": [EVAL]},
    "reports/stats.py": {"tests": ["tests/test_report.py"]},
    "reports/paired.py": {"tests": ["tests/test_report_paired.py"]},
    "reports/paired_tables.py": {"tests": ["tests/test_report_paired.py"]},
    "reports/published.py": {"tests": ["tests/test_report_published_weights.py",
                                       "tests/test_report_paired.py"],
                             "k": "published or provided or origin"},
    "methods/tf_bundle.py": {"tests": ["methods/deepfill_v1/test_deepfill_v1_published.py"]},
    "methods/import_weights.py": {"tests": ["tests/test_import_weights.py",
                                            "methods/deepfill_v1/test_deepfill_v1_published.py",
                                            "methods/glcic/test_glcic_published.py",
                                            "methods/pconv/test_pconv_published.py"]},
    "methods/deepfill_v1/published.py": {
        "tests": ["methods/deepfill_v1/test_deepfill_v1_published.py"]},
    "methods/t7.py": {"tests": ["methods/glcic/test_glcic_published.py"]},
    "methods/glcic/published.py": {"tests": ["methods/glcic/test_glcic_published.py"]},
    "methods/pconv/published.py": {"tests": ["methods/pconv/test_pconv_published.py"]},
    "reports/curves.py": {"tests": ["tests/test_report_paired.py"], "k": "curves or log"},
    "reports/browser.py": {"tests": ["tests/test_browser.py"]},
    "datasets/pairing.py": {"tests": [MASKS, "tests/test_score.py", SIZED_PAIRS]},
    "datasets/masks/buckets.py": {"tests": [MASKS, NVIDIA], "k": "not real_set"},
    "datasets/masks/generate.py": {"tests": [MASKS]},
    "datasets/masks/build.py": {"tests": [MASKS, NVIDIA], "k": "not real_set"},
    "datasets/masks/nvidia.py": {"tests": [NVIDIA], "k": "not real_set"},
    "datasets/io.py": {"tests": ["tests/test_io.py", FAULTS, "tests/test_datasets.py"]},
    "methods/__init__.py": {"tests": [FAULTS, "tests/test_contract.py",
                                      "tests/test_report_paired.py", "tests/test_import_weights.py",
                                      "methods/pconv/test_pconv_published.py"],
                            "k": "setting or steps or bounds or inference or spec or published "
                                 "or entry or release or refused",
                            "functions": {"check_limits", "check_value", "check_overrides",
                                          "resolve_inference", "defaults", "validate_spec",
                                          "check_reported", "check_entry",
                                          "weights_variants"}},
    "methods/resume_torch.py": RESUME,
    "methods/resume_paddle.py": RESUME,
    "methods/training.py": {**RESUME,
                            "tests": [*RESUME["tests"], PARALLEL],
                            "k": f"{RESUME['k']} or workers or killed or log or holes",
                            "functions": {"fingerprint", "read_log", "write_log", "stage",
                                          "fresh_start", "check_record", "check_finite",
                                          "append_log", "trim_log", "rectangles", "side_range"}},
    "methods/pconv/batches.py": {"tests": ["methods/pconv/test_pconv_train.py"], "k": "holes"},
    # a performance rewrite of the paddle ports' arithmetic: the ports' parity tests guard it
    "methods/ops_paddle.py": {"tests": ["methods/pconv/test_pconv.py",
                                        "methods/glcic/test_glcic.py",
                                        "methods/deepfill_v1/test_deepfill_v1.py"],
                              "k": "parity"},
    # diagonal_keep: the masks of DeepFill v1's rolled diagonal sum (hand-built fuse reference)
    "methods/deepfill_v1/geometry.py": {"tests": ["methods/deepfill_v1/test_deepfill_v1.py"],
                                        "functions": {"diagonal_keep"}},
    # total_variation: PConv's rolled L_tv (hand-derived values, both ports)
    "methods/pconv/loss_torch.py": {"tests": ["methods/pconv/test_pconv_loss.py"],
                                    "functions": {"total_variation"}},
    "methods/pconv/loss_paddle.py": {"tests": ["methods/pconv/test_pconv_loss.py"],
                                     "functions": {"total_variation"}},
    "methods/loop.py": {"tests": [PARALLEL, "methods/pconv/test_pconv_train.py", FAULTS],
                        "k": "workers or killed or read_back or resumed or ahead or diverg"},
    "methods/feed.py": {"tests": [PARALLEL], "k": "workers or killed or crosses"},
    "methods/parallel.py": RANKS,
    "methods/parallel_torch.py": RANKS,
    "methods/parallel_paddle.py": RANKS,
    "methods/gpu_slots.py": {"tests": ["tests/test_gpu_slots.py"]},
    "datasets/store.py": {"tests": ["tests/test_datasets.py", "tests/test_demo_dataset.py",
                                    FAULTS], "k": "store or training or source or demo"},
    "methods/predict.py": {"tests": [FAULTS, "tests/test_score.py", "tests/test_train_cli.py",
                                     EVAL]},
    "methods/checkpoint.py": {"tests": [FAULTS, "methods/pconv/test_pconv.py",
                                        "tests/test_train_cli.py"],
                              "k": "checkpoint or loading or test_train_cli or test_faults"},
}


def pytest_args(entry):
    return [*entry["tests"], *(["-k", entry["k"]] if "k" in entry else [])]


def run_tests(copy, tests, timeout=None):
    """(returncode or 'timeout', seconds, output) of pytest on `tests` inside the copy."""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p",
                               "no:cacheprovider", *tests], cwd=copy, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started, ""
    return done.returncode, time.monotonic() - started, done.stdout + done.stderr


def copy_tree(source, target):
    """The tracked files of a checkout; every file of a folder that is no git checkout (such
    as `git archive HEAD | tar -x`, which holds only tracked files), bytecode caches aside."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=source, capture_output=True)
    if listed.returncode == 0:
        files = listed.stdout.decode().split("\0")
    else:
        files = [str(p.relative_to(source)) for p in sorted(Path(source).rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts]
    for name in filter(None, files):
        if (Path(source) / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(source) / name, target / name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(Path(__file__).resolve().parents[1]),
                        help="checkout whose tracked files are copied (default: this one)")
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=list(MODULES),
                        metavar="MODULE", help="modules to mutate (default: all mapped)")
    parser.add_argument("--max-per-module", type=int, default=None,
                        help="evenly spaced sample of at most N mutants per module")
    parser.add_argument("--out", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    lines = []

    def say(text):
        print(text, flush=True)
        lines.append(text)

    summary, survivors = [], []
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        copy = Path(tmp) / "tree"
        copy_tree(args.source, copy)
        shared = Path(args.source).resolve().parent / "shared"
        if shared.is_dir():  # the real test data beside the checkout: its tests run, not skip
            (Path(tmp) / "shared").symlink_to(shared)
        say(f"# mutation check of {args.source} (copy in {copy})")
        for module in args.modules:
            entry, file = MODULES[module], copy / module
            original = file.read_bytes()
            found = find_mutants(module, original, entry.get("functions"))
            chosen = evenly_spaced(found, args.max_per_module)
            tests = pytest_args(entry)
            code, seconds, output = run_tests(copy, tests)
            if code != 0:
                raise SystemExit(f"{module}: its tests fail unmutated in the copy "
                                 f"(pytest {' '.join(tests)}):\n{output[-3000:]}")
            timeout = max(60.0, 4 * seconds)
            say(f"## {module}: {len(chosen)} of {len(found)} mutants; pytest "
                f"{' '.join(tests)} passes unmutated in {seconds:.1f} s")
            killed = 0
            for k, mutant in enumerate(chosen, start=1):
                file.write_bytes(mutant.apply(original))
                try:
                    code, seconds, _ = run_tests(copy, tests, timeout)
                finally:
                    file.write_bytes(original)
                verdict = ("timeout" if code == "timeout" else "killed" if code != 0
                           else "SURVIVED")
                killed += verdict != "SURVIVED"
                if verdict == "SURVIVED":
                    survivors.append((mutant, mutant.snippet(original)))
                say(f"[{k}/{len(chosen)}] {verdict:8} {mutant.name} ({seconds:.0f} s) "
                    f"{mutant.snippet(original)}")
            summary.append((module, len(chosen), len(found), killed))
    say("\n| module | mutants run | killed | survived |\n|---|---|---|---|")
    for module, run, total, killed in summary:
        sampled = f" (sample of {total})" if run < total else ""
        say(f"| {module} | {run}{sampled} | {killed} | {run - killed} |")
    say(f"\nSurvivors ({len(survivors)}):")
    for mutant, snippet in survivors:
        say(f"- {mutant.name} {snippet}")
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
