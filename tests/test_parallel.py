"""Training at full size: batches drawn by worker processes, data-parallel ranks started by the
frameworks' launchers, a run killed with SIGKILL, and the log's host syncs. Every comparison is
against the one-process, zero-worker run of the same settings."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from datasets import store
from methods import checkpoint, feed, loop, parallel_torch, training
from methods.pconv import train_torch

ROOT = Path(__file__).resolve().parent.parent
NO_DOWNLOAD = {"weights_dir": None, "allow_download": False}
# Small networks and few steps; batch 4 splits into 2 x 2 over two ranks.
OVERRIDES = {
    # the last step fine-tunes: the encoder's BatchNorm in eval mode, under ranks too
    "pconv": {"layers": 4, "width": 8, "steps": 3, "batch_size": 4, "lr": 1e-3,
              "finetune_fraction": 0.34, "vgg_terms": False, "checkpoint_every": 2,
              "holes": "irregular"},
    "deepfill_v1": {"cnum": 4, "critic_cnum": 4, "steps": 2, "batch_size": 4, "critic_steps": 1,
                    "checkpoint_every": 1},
    # GLCIC's 17 BatchNorm layers and ADADELTA at lr 1 amplify float32 rounding ~10x a step
    # (two thread counts of one process already differ by 2e-5 after 3 steps): one step here,
    # its phase 1 (README "Several GPUs" gives the longer runs' figures).
    "glcic": {"width": 4, "steps": 1, "batch_size": 4, "checkpoint_every": 1}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Eight seeded 32x32 images with structure (ramps), as a prepared training split."""
    rng = np.random.default_rng([13, 0])
    ramps = np.cumsum(rng.random((8, 32, 32, 3)), axis=2) / 32
    return store.write_png_split(tmp_path_factory.mktemp("train"),
                                 np.rint(np.clip(ramps, 0, 1) * 255).astype(np.uint8))


def train_cli(data, out, method, framework, *extra, overrides=None):
    """python -m methods.train in a subprocess, as the workflow runs it; returns the process."""
    command = [sys.executable, "-m", "methods.train", "--method", method, "--framework",
               framework, "--data", str(data), "--out", str(out), "--device", "cpu",
               "--no-download", "--overrides", json.dumps(overrides or OVERRIDES[method]),
               *extra]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def weights(out):
    return checkpoint.load(Path(out) / "weights.safetensors")[0]


@pytest.mark.parametrize("method, framework", [
    ("pconv", "torch"), ("pconv", "paddle"), ("deepfill_v1", "torch"),
    ("deepfill_v1", "paddle"), ("glcic", "torch"), ("glcic", "paddle")])
def test_two_ranks_with_half_the_batch_end_with_the_one_process_weights(
        data, tmp_path, method, framework):
    """The ranks are started by torchrun / paddle.distributed.launch (gloo on the CPU); each
    draws half of every global batch. pconv and GLCIC normalise by the global batch's
    statistics (SyncBatchNorm2d), GLCIC's and DeepFill's ratio losses take the global
    denominators, and the gradients are averaged: the weights follow the one-process run."""
    one, two = tmp_path / "one", tmp_path / "two"
    for out, extra in ((one, ()), (two, ("--ranks", "2"))):
        done = train_cli(data, out, method, framework, *extra)
        assert done.returncode == 0, done.stderr[-3000:]
    single, ranked = weights(one), weights(two)
    initial = training.init_state({k: v.shape for k, v in single.items()}, seed=0)
    assert set(single) == set(ranked)
    moved = max(float(np.abs(single[k] - initial[k]).max()) for k in single
                if k.endswith("conv.weight") or k.endswith(".weight"))
    assert moved > 1e-3  # the steps changed the weights, so agreeing means something
    for key in single:
        np.testing.assert_allclose(ranked[key], single[key], rtol=0, atol=1e-5, err_msg=key)
    logs = [[json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
            for out in (one, two)]
    assert [r["step"] for r in logs[1]] == list(range(OVERRIDES[method]["steps"]))
    for mine, theirs in zip(*logs):  # rank 0 logs the global batch's loss terms
        assert mine == pytest.approx(theirs, rel=1e-5, abs=1e-5)
    resolved = (two / "resolved.yaml").read_text()
    assert "ranks: 2" in resolved


def test_a_batch_that_does_not_split_over_the_ranks_is_refused(data, tmp_path):
    done = train_cli(data, tmp_path, "pconv", "torch", "--ranks", "3")
    assert done.returncode != 0
    assert "batch_size 4 does not split over 3 ranks" in done.stderr


@pytest.mark.parametrize("port", ["torch", "paddle"])
def test_loader_workers_change_no_weight(data, tmp_path, port):
    """0, 1 and 2 worker processes draw the same batches: byte-identical weights and logs."""
    module = __import__(f"methods.pconv.train_{port}", fromlist=["train"])
    settings = {**OVERRIDES["pconv"], "finetune_lr": 5e-5}
    params = {"layers": 4, "width": 8, "input_norm": "unit"}
    runs = {}
    for workers in (0, 1, 2):
        out = tmp_path / str(workers)
        runs[workers] = module.train(None, data, out, steps=3, seed=0, device="cpu",
                                     params=params, settings=settings, backbones=NO_DOWNLOAD,
                                     workers=workers)[0]
        assert (out / "log.jsonl").read_text() == (tmp_path / "0" / "log.jsonl").read_text()
    for workers in (1, 2):
        for key in runs[0]:
            np.testing.assert_array_equal(runs[workers][key], runs[0][key], err_msg=key)


def test_a_run_killed_mid_training_resumes_to_the_uninterrupted_weights(data, tmp_path):
    """SIGKILL, no cleanup, while workers draw ahead: the workers end with it; run again, the
    run resumes from its last checkpoint and ends byte-identical to a run never interrupted,
    log included."""
    overrides = {**OVERRIDES["pconv"], "steps": 300, "checkpoint_every": 10}
    full = train_cli(data, tmp_path / "full", "pconv", "torch", "--workers", "2",
                     overrides=overrides)
    assert full.returncode == 0, full.stderr[-3000:]
    command = [sys.executable, "-m", "methods.train", "--method", "pconv", "--framework",
               "torch", "--data", str(data), "--out", str(tmp_path / "cut"), "--device", "cpu",
               "--no-download", "--overrides", json.dumps(overrides), "--workers", "2"]
    run = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL, start_new_session=True)
    resume = tmp_path / "cut" / "resume_torch.pt"
    deadline = time.time() + 300
    while not resume.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)  # the training process alone, no cleanup
    assert run.wait() == -signal.SIGKILL
    deadline = time.time() + 30  # its workers die with it (PR_SET_PDEATHSIG), none orphaned
    while time.time() < deadline:
        try:
            os.killpg(run.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(run.pid, signal.SIGKILL)
        pytest.fail("the feed's worker processes outlived the killed training process")
    assert not (tmp_path / "cut" / "weights.safetensors").exists()
    assert_resumes_to_the_full_run(data, tmp_path, "torch", overrides, "--workers", "2")


def assert_resumes_to_the_full_run(data, tmp_path, framework, overrides, *options):
    """Rerun the killed run in tmp_path/cut: it ends with tmp_path/full's weights and log,
    byte for byte."""
    again = train_cli(data, tmp_path / "cut", "pconv", framework, *options, overrides=overrides)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (tmp_path / "cut" / "weights.safetensors").read_bytes() == \
        (tmp_path / "full" / "weights.safetensors").read_bytes()
    assert (tmp_path / "cut" / "log.jsonl").read_text() == \
        (tmp_path / "full" / "log.jsonl").read_text()


def processes_naming(folder):
    """The pids of the live processes whose command line names folder."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z" and str(folder).encode() in words:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_two_rank_run_killed_resumes_from_rank_0s_checkpoint_exactly(data, tmp_path,
                                                                        framework):
    """Rank 0 alone writes the checkpoint; after SIGKILL of the launcher and its ranks, every
    rank resumes from it, and the run ends as the uninterrupted two-rank run ends."""
    overrides = {**OVERRIDES["pconv"], "steps": 120, "checkpoint_every": 10}
    full = train_cli(data, tmp_path / "full", "pconv", framework, "--ranks", "2",
                     overrides=overrides)
    assert full.returncode == 0, full.stderr[-3000:]
    command = [sys.executable, "-m", "methods.train", "--method", "pconv", "--framework",
               framework, "--data", str(data), "--out", str(tmp_path / "cut"), "--device",
               "cpu", "--no-download", "--overrides", json.dumps(overrides), "--ranks", "2"]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    resume = tmp_path / "cut" / loop.RESUME[framework]
    deadline = time.time() + 300
    while not resume.exists() and run.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    # the ranks live in sessions of their own (both launchers setsid them), so only their
    # PR_SET_PDEATHSIG ends them; one left alive would append to the log the rerun resumes
    deadline = time.time() + 20
    while processes_naming(tmp_path / "cut") and time.time() < deadline:
        time.sleep(0.1)
    assert not processes_naming(tmp_path / "cut")
    assert resume.exists() and not (tmp_path / "cut" / "weights.safetensors").exists()
    assert_resumes_to_the_full_run(data, tmp_path, framework, overrides, "--ranks", "2")


def test_loss_terms_are_read_back_once_per_log_interval(data, tmp_path, monkeypatch):
    """No .item() per step: the loop reads the records back every LOG_EVERY steps and at each
    checkpoint, in one transfer each, and appends them to the log."""
    transfers = []
    read_back = parallel_torch.read_back

    def counted(values):
        transfers.append(len(values))
        return read_back(values)

    monkeypatch.setattr(parallel_torch, "read_back", counted)
    settings = {**OVERRIDES["pconv"], "finetune_lr": 5e-5, "checkpoint_every": 1000}
    steps = 2 * loop.LOG_EVERY + 7
    train_torch.train(None, data, tmp_path, steps=steps, seed=0, device="cpu",
                      params={"layers": 3, "width": 4, "input_norm": "unit"},
                      settings={**settings, "steps": steps}, backbones=NO_DOWNLOAD)
    terms = 4  # loss, valid, hole, tv
    assert transfers == [loop.LOG_EVERY * terms, loop.LOG_EVERY * terms, 7 * terms]
    log = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in log] == list(range(steps))


def test_a_log_line_cut_short_by_a_kill_is_dropped_and_a_bad_line_inside_is_refused(tmp_path):
    log = tmp_path / "log.jsonl"
    training.write_log(log, [{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}])
    training.append_log(log, [{"step": 2, "loss": 0.25}])
    assert [r["step"] for r in training.read_log(log, 5)] == [0, 1, 2]
    log.write_text(log.read_text() + '{"step": 3, "lo')  # killed while appending step 3
    assert [r["step"] for r in training.read_log(log, 5)] == [0, 1, 2]
    training.trim_log(log, 1)
    assert log.read_text() == '{"step": 0, "loss": 1.0}\n{"step": 1, "loss": 0.5}\n'
    log.write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="line 2 is not a JSON record"):
        training.read_log(log, 5)


def test_a_batch_crosses_from_a_worker_exactly_and_images_in_a_quarter_of_the_bytes():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (2, 3, 8, 8)).astype(np.float32) / np.float32(255)
    hole = (rng.random((2, 1, 8, 8)) < 0.5).astype(np.float32)
    weights_ = rng.random(5).astype(np.float32)  # not k / 255: sent as they are
    corners = np.array([[1, 2], [3, 4]])
    batch = [(image, hole, corners, weights_)]
    sent = feed._compact(batch)
    assert [a.dtype for a in sent[0]] == [np.uint8, np.uint8, corners.dtype, np.float32]
    back = feed._expand(sent)
    for got, want in zip(back[0], batch[0]):
        assert got.dtype == want.dtype and type(got) is np.ndarray
        np.testing.assert_array_equal(got, want)
    assert feed._compact(image + np.float32(1e-3)).dtype == np.float32  # near, not equal
