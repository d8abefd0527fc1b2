"""The train CLI's settings: spec defaults, config overrides, and the deviations they imply."""
import numpy as np
import pandas as pd
import pytest

import methods
from datasets.masks.build import build
from methods import predict, train, training
from methods.train import resolve_settings
from tiny import shared_split


def test_overrides_replace_defaults_and_each_change_is_a_deviation():
    spec = methods.load_spec("pconv")
    params, training, deviations = resolve_settings(
        spec, {"width": 16, "steps": 400, "lr": spec["training"]["lr"], "checkpoint_every": 5},
        "test")
    assert params["width"] == 16 and training["steps"] == 400
    assert params["layers"] == spec["params"]["layers"] and training["checkpoint_every"] == 5
    # lr was "overridden" with its default value, and how often to checkpoint changes no
    # result: neither is a deviation.
    assert deviations == ["width: 16 (spec default 64)", "steps: 400 (spec default 1000000)"]


def test_an_unknown_override_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"test: \['colour'\] not among the settings .*/pconv/"):
        resolve_settings(methods.load_spec("pconv"), {"colour": 1}, "test")


def test_two_cli_runs_give_byte_identical_checkpoints_that_predict_loads(tmp_path):
    rng = np.random.default_rng([11, 0])
    shared_split(tmp_path / "data", rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
    overrides = ('{"layers": 4, "width": 4, "steps": 2, "batch_size": 2, "vgg_terms": false, '
                 '"checkpoint_every": 1}')
    for run in ("a", "b"):
        train.main(["--method", "pconv", "--framework", "torch", "--data",
                    str(tmp_path / "data"), "--out", str(tmp_path / run), "--device", "cpu",
                    "--overrides", overrides, "--no-download"])
    weights = tmp_path / "a" / "weights.safetensors"
    assert weights.read_bytes() == (tmp_path / "b" / "weights.safetensors").read_bytes()
    build({"kind": "box", "resolution": 32, "box": 8}, tmp_path / "masks")
    predict.main(["--method", "pconv", "--framework", "torch", "--weights", "retrained",
                  "--images", str(tmp_path / "data"), "--masks", str(tmp_path / "masks"),
                  "--out", str(tmp_path / "pred"), "--checkpoint", str(weights)])
    assert len(pd.read_csv(tmp_path / "pred" / "predictions.tsv", sep="\t")) == 3


def test_the_finetuning_stage_is_the_last_fraction_of_the_steps():
    # stage 2 for the last round(steps x fraction) steps: 11 x 0.0909 = 0.9999 -> 1 step (the
    # paper's 10 days + 1 day); 10 x 0.25 = 2.5 -> 2 (round half to even); 10 x 0.35 = 3.5 -> 4.
    assert [training.stage(s, 11, 0.0909) for s in range(11)] == [1] * 10 + [2]
    assert [training.stage(s, 10, 0.25) for s in range(10)] == [1] * 8 + [2] * 2
    assert [training.stage(s, 10, 0.35) for s in range(10)] == [1] * 6 + [2] * 4
    assert {training.stage(s, 4, 0.0) for s in range(4)} == {1}
    assert {training.stage(s, 4, 1.0) for s in range(4)} == {2}


def test_a_runs_fingerprint_ignores_key_order_and_bookkeeping(tmp_path):
    (tmp_path / "manifest.tsv").write_text("id\tsha256\nt0\tabc\n")
    one = training.fingerprint(tmp_path, {"layers": 4, "width": 8},
                               {"lr": 1.0, "steps": 4, "checkpoint_every": 1}, 0)
    assert one == training.fingerprint(tmp_path, {"width": 8, "layers": 4},
                                       {"checkpoint_every": 9, "steps": 4, "lr": 1.0}, 0)
    assert one != training.fingerprint(tmp_path, {"layers": 4, "width": 8},
                                       {"lr": 1.0, "steps": 5}, 0)
