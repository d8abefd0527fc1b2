"""Faults that must end in a clear error naming the file and the fix, never in a wrong number
(issue 12): changed files, diverged training, bad settings and weights files cut short (images
stored sideways or with no faithful RGB reading: tests/test_io.py)."""
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from safetensors.numpy import save_file

import methods
from datasets.masks.build import build
from datasets import store
from methods import checkpoint, predict, train, training
from metrics import score
from tiny import png_split, shared_split


@pytest.fixture(scope="module")
def predicted(tmp_path_factory):
    """3 test images, one mask per bucket, telea's predictions: the score stage's inputs."""
    root = tmp_path_factory.mktemp("faults")
    rng = np.random.default_rng([12, 0])
    png_split(root / "data", [rng.random((3, 32, 32)).astype(np.float32) for _ in range(3)])
    build({"kind": "irregular", "resolution": 32, "per_bucket": 1, "seed": 0}, root / "masks")
    predict.main(["--method", "telea", "--framework", "numpy", "--weights", "none",
                  "--images", str(root / "data"), "--masks", str(root / "masks"),
                  "--out", str(root / "pred")])
    return root


def copy_of(root, tmp_path):
    shutil.copytree(root, tmp_path / "run")
    return tmp_path / "run"


def run_score(root):
    score.main(["--predictions", str(root / "pred"), "--images", str(root / "data"),
                "--masks", str(root / "masks"), "--out", str(root / "score.tsv"),
                "--no-download", "--backbone-weights-dir", str(root / "masks")])


def test_scoring_the_unchanged_folder_works(predicted, tmp_path):
    root = copy_of(predicted, tmp_path)
    run_score(root)
    assert len(pd.read_csv(root / "score.tsv", sep="\t")) > 0


def test_a_prediction_replaced_after_predict_is_not_scored(predicted, tmp_path):
    """Fault 1: a telea PNG replaced by its ground truth (which raised the demo's SSIM)."""
    root = copy_of(predicted, tmp_path)
    row = pd.read_csv(root / "pred/predictions.tsv", sep="\t").iloc[4]
    shutil.copy(root / "data" / f"{row.image_id}.png", root / "pred" / row.file)
    with pytest.raises(SystemExit) as err:
        run_score(root)
    message = str(err.value)
    assert f"{root}/pred/{row.file} is not the file {root}/pred/predictions.tsv records" in message
    assert f"Delete {root}/pred/predictions.tsv and run the workflow again" in message
    assert not (root / "score.tsv").exists()


@pytest.mark.parametrize("folder", ["data", "masks"])
def test_a_changed_ground_truth_or_mask_is_refused_by_predict_and_score(predicted, tmp_path,
                                                                        folder):
    root = copy_of(predicted, tmp_path)
    target = sorted((root / folder).glob("*.png"))[0]
    with Image.open(target) as im:
        pixels = np.asarray(im).copy()
    pixels[0, 0] = 255 - pixels[0, 0]  # one pixel: still a valid image or binary mask
    Image.fromarray(pixels).save(target)
    expected = f"{target} is not the file {root}/{folder}/manifest.tsv records"
    with pytest.raises(SystemExit, match=expected):
        run_score(root)
    with pytest.raises(SystemExit, match=expected):
        predict.main(["--method", "telea", "--framework", "numpy", "--weights", "none",
                      "--images", str(root / "data"), "--masks", str(root / "masks"),
                      "--out", str(root / "again")])


@pytest.fixture(scope="module")
def train_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    rng = np.random.default_rng([12, 1])
    shared_split(root / "data", rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8))
    build({"kind": "box", "resolution": 32, "box": 8}, root / "masks")
    return root / "data"


def train_pconv(data, out, framework="torch", **overrides):
    settings = {"layers": 4, "width": 4, "steps": 3, "batch_size": 2, "vgg_terms": False,
                "checkpoint_every": 1, **overrides}
    train.main(["--method", "pconv", "--framework", framework, "--data", str(data),
                "--out", str(out), "--device", "cpu", "--overrides", json.dumps(settings),
                "--no-download"])


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_diverging_run_stops_at_its_first_nonfinite_step_and_keeps_the_last_good_one(
        train_data, tmp_path, framework):
    """Fault 2: pconv at lr 1e20. Step 0's loss is finite (the initial weights) and its update
    is about lr x sign(gradient) (Adam), which leaves finite weights near 1e20, so step 1's
    loss overflows: the run stops there, after step 0's checkpoint, writing no weights."""
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as err:
        train_pconv(train_data, out, framework, lr=1e20)
    message = str(err.value)
    assert message.startswith(f"methods.train: training diverged: pconv/{framework}: step 1 "
                              "(0-based, as in log.jsonl): ")
    assert "No weights were written" in message and "Lower the learning rate" in message
    resume = {"torch": "resume_torch.pt", "paddle": "resume_paddle.pdparams"}[framework]
    assert f"its last checkpoint {out}/{resume} (saved every 1 steps) is kept" in message
    assert not (out / "weights.safetensors").exists()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0] and np.isfinite(log[0]["loss"])


def test_a_nonfinite_optimiser_state_is_named_and_would_not_be_checkpointed():
    """Adam's second moment at inf freezes its weight for ever after a resume: it is checked."""
    import torch
    layer = torch.nn.Linear(2, 2)
    optimiser = torch.optim.Adam(layer.parameters())
    layer(torch.ones(1, 2)).sum().backward()
    optimiser.step()
    next(iter(optimiser.state.values()))["exp_avg_sq"][0] = float("inf")
    with pytest.raises(training.Diverged, match="the optimiser state of optimiser.0.exp_avg_sq "
                       "is not"):
        training.check_finite("torch", {"model": layer, "optimiser": optimiser},
                              {"step": 3, "loss": 1.0}, "pconv")


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_nonfinite_gradient_is_named_before_the_weights_it_spoils(framework):
    import paddle
    import torch
    if framework == "torch":
        layer = torch.nn.Linear(2, 2)
        layer.weight.grad = torch.full((2, 2), float("nan"))
    else:
        layer = paddle.nn.Linear(2, 2)
        paddle.sum(layer(paddle.ones([1, 2])) * float("inf")).backward()
    parts = {"model": layer, "optimizer": (torch.optim.SGD(layer.parameters(), lr=0.1)
                                           if framework == "torch" else
                                           paddle.optimizer.SGD(parameters=layer.parameters()))}
    with pytest.raises(training.Diverged, match="pconv: step 7 .*every loss term is finite but "
                       "the gradient of model.weight is not"):
        training.check_finite(framework, parts, {"step": 7, "loss": 1.0}, "pconv")
    with pytest.raises(training.Diverged, match="step 7 .*loss terms not finite: hole = nan, "
                       "style = inf$"):
        training.check_finite(framework, parts, {"step": 7, "loss": 1.0, "hole": float("nan"),
                                                 "style": float("inf")}, "pconv")


def test_predict_refuses_nonfinite_weights_and_save_never_writes_them(train_data, tmp_path):
    train_pconv(train_data, tmp_path / "good")
    state, metadata = checkpoint.load(tmp_path / "good/weights.safetensors")
    name = sorted(k for k in state if k.endswith("weight"))[0]
    state[name] = np.full_like(state[name], np.nan)
    with pytest.raises(checkpoint.CheckpointError, match="not written, the weights are not finite"):
        checkpoint.save(tmp_path / "bad.safetensors", state, metadata)
    assert not (tmp_path / "bad.safetensors").exists()
    save_file(state, str(tmp_path / "bad.safetensors"), metadata)  # as another tool might
    with pytest.raises(SystemExit) as err:
        predict.main(["--method", "pconv", "--framework", "torch", "--weights", "retrained",
                      "--images", str(train_data), "--masks", str(train_data.parent / "masks"),
                      "--out", str(tmp_path / "pred"),
                      "--checkpoint", str(tmp_path / "bad.safetensors")])
    assert (f"{tmp_path}/bad.safetensors: the weights are not finite ({name}: "
            f"{state[name].size:,} of {state[name].size:,} values)") in str(err.value)
    assert "diverged run" in str(err.value)


@pytest.mark.parametrize("keep, why", [
    (0, "not a safetensors file"), (7, "not a safetensors file"),
    (100, "cut short (100 bytes, shorter than its header)"),
    (-1, None)])
def test_a_weights_file_cut_short_is_refused_naming_it_and_the_fix(train_data, tmp_path, keep,
                                                                    why):
    """Fault 5. keep: bytes left (0: empty; 7: inside the 8-byte length; 100: inside the JSON
    header; -1: all but the last byte of the data)."""
    train_pconv(train_data, tmp_path / "good")
    data = (tmp_path / "good/weights.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:keep])
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load(path)
    why = why or f"{len(data) - 1:,} bytes where its header describes {len(data):,}"
    assert str(err.value).startswith(f"{path}: {why}")
    assert "delete it and run the workflow again to retrain it" in str(err.value)
    with pytest.raises(SystemExit, match=f"methods.predict: {path}: "):
        predict.main(["--method", "pconv", "--framework", "torch", "--weights", "retrained",
                      "--images", str(train_data), "--masks", str(train_data.parent / "masks"),
                      "--out", str(tmp_path / "pred"), "--checkpoint", str(path)])


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_resumable_checkpoint_cut_short_is_refused_naming_it(train_data, tmp_path, framework):
    out = tmp_path / "run"
    train_pconv(train_data, out, framework)
    resume = out / {"torch": "resume_torch.pt", "paddle": "resume_paddle.pdparams"}[framework]
    resume.write_bytes(resume.read_bytes()[:200])
    with pytest.raises(SystemExit, match=f"methods.train: {resume}: unreadable resumable "
                       "checkpoint .*delete it to train this run afresh"):
        train_pconv(train_data, out, framework)


@pytest.mark.parametrize("value, expected", [
    (-5, "steps must be >= 1"), (0, "steps must be >= 1"),
    ("abc", "steps must be an integer like its default 1000000"),
    (2.5, "steps must be an integer like its default 1000000"),
    (True, "steps must be an integer like its default 1000000")])
def test_a_bad_steps_value_is_refused_before_training(value, expected):
    """Fault 3 (the workflow makes the same check before any job: test_workflow.py)."""
    with pytest.raises(ValueError, match=f"configs/config.yaml: {expected} "
                       r"\(methods/pconv/spec.yaml\), got"):
        train.resolve_settings(methods.load_spec("pconv"), {"steps": value},
                               "configs/config.yaml")


@pytest.mark.parametrize("method, overrides, expected", [
    ("pconv", {"lr": 0}, "lr must be > 0"),
    ("pconv", {"lr": "1e-3"}, "lr must be a finite number.*write 1.0e-3"),
    ("pconv", {"lr": float("inf")}, "lr must be a finite number"),
    ("pconv", {"finetune_fraction": 1.5}, "finetune_fraction must be <= 1"),
    ("pconv", {"vgg_terms": "false"}, "vgg_terms must be true or false"),
    ("glcic", {"holes": "ellipses"}, r"holes must be one of \['rectangles', 'irregular'\]"),
    ("deepfill_v1", {"beta1": 1.0}, "beta1 must be < 1"),
    ("deepfill_v1", {"critic_steps": -1}, "critic_steps must be >= 0")])
def test_every_setting_is_checked_against_its_spec_limits(method, overrides, expected):
    with pytest.raises(ValueError, match=expected):
        train.resolve_settings(methods.load_spec(method), overrides, "test")


def test_every_spec_bounds_every_setting_that_is_not_a_switch(tmp_path):
    for spec in methods.discover().values():
        for key, default in methods.defaults(spec).items():
            assert isinstance(default, bool) or key in spec.get("limits", {}), (spec["id"], key)
    folder = tmp_path / "mine"
    folder.mkdir()
    spec = {**methods.load_spec("telea"), "id": "mine", "limits": {}}
    shutil.copy(methods.ROOT / "telea/model_numpy.py", folder)
    (folder / "spec.yaml").write_text(json.dumps(spec))
    with pytest.raises(ValueError, match=r"settings \['radius'\] have no limits"):
        methods.discover(tmp_path)


def test_a_new_run_empties_the_log_of_the_run_before(train_data, tmp_path):
    """Fault 3's second half: a run started afresh (no checkpoint, or one of other settings)
    must not leave the earlier run's records in log.jsonl."""
    out = tmp_path / "run"
    out.mkdir()
    training.write_log(out / "log.jsonl", [{"step": s, "loss": 0.5} for s in range(400)])
    train_pconv(train_data, out, steps=2)
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] \
        == [0, 1]
    train_pconv(train_data, out, steps=1, width=3)  # other settings: afresh
    assert len((out / "log.jsonl").read_text().splitlines()) == 1


def test_a_score_table_edited_after_scoring_is_not_reported(predicted, tmp_path):
    from reports import inputs
    root = copy_of(predicted, tmp_path)
    run_score(root)
    run = inputs.Run(root, "d", "m", "telea", "numpy", "none", root / "score.tsv")
    inputs.check_table(run)  # as written
    table = (root / "score.tsv").read_text()
    (root / "score.tsv").write_text(table.replace("\tok", "\tok", 1).replace("0.", "0.9", 1))
    with pytest.raises(ValueError, match=f"{root}/score.tsv is not the table metrics.score "
                       f"wrote \\({root}/score.json records sha256"):
        inputs.check_table(run)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_predict_runs_the_network_of_the_checkpoint_it_is_given(train_data, tmp_path,
                                                                framework):
    """The reference is built here, not by methods.predict: the model from the checkpoint's
    recorded params, its state loaded, inpaint on the whole batch, composited, rounded."""
    from datasets.io import read_mask, read_rgb, to_u8
    train_pconv(train_data, tmp_path / "run", framework)
    weights = tmp_path / "run/weights.safetensors"
    state, metadata = checkpoint.load(weights)
    spec, module = methods.load_spec("pconv"), methods.implementation("pconv", framework)
    model = module.build(spec, **json.loads(metadata["harness"])["params"])
    getattr(checkpoint, f"load_{framework}")(model, state)
    masks = train_data.parent / "masks"
    predict.main(["--method", "pconv", "--framework", framework, "--weights", "retrained",
                  "--images", str(train_data), "--masks", str(masks), "--out",
                  str(tmp_path / "pred"), "--checkpoint", str(weights), "--device", "cpu"])
    rows = pd.read_csv(tmp_path / "pred/predictions.tsv", sep="\t", dtype=str)
    image = np.stack([read_rgb(train_data / f"{i}.png") for i in rows.image_id])
    mask = np.stack([read_mask(masks / f"{m}.png") for m in rows.mask_id])
    raw = module.inpaint(model, methods.method_input(image, mask, spec), mask)
    expected = np.clip(raw, 0, 1) * mask + image * (1 - mask)
    for k, row in enumerate(rows.itertuples()):
        got = np.asarray(Image.open(tmp_path / "pred" / row.file))
        np.testing.assert_array_equal(got, to_u8(expected[k]), err_msg=row.file)
    untrained = module.build(spec, **json.loads(metadata["harness"])["params"])
    other = module.inpaint(untrained, methods.method_input(image, mask, spec), mask)
    assert np.abs(other - raw)[mask.repeat(3, 1) > 0].max() > 1e-3  # the weights matter


def test_weights_that_do_not_fit_the_network_are_refused_naming_the_file(train_data, tmp_path):
    train_pconv(train_data, tmp_path / "good")
    state, metadata = checkpoint.load(tmp_path / "good/weights.safetensors")
    dropped = sorted(state)[0]
    cases = {"no_harness": ({**state}, {}, "no 'harness' metadata"),
             "missing": ({k: v for k, v in state.items() if k != dropped}, metadata,
                         f"does not fit methods/pconv's network built with .*{dropped}")}
    for name, (arrays, meta, expected) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        save_file(arrays, str(path), meta)
        with pytest.raises(SystemExit, match=f"methods.predict: {path}: {expected}"):
            predict.main(["--method", "pconv", "--framework", "torch", "--weights", "retrained",
                          "--images", str(train_data), "--masks",
                          str(train_data.parent / "masks"), "--out", str(tmp_path / "pred"),
                          "--checkpoint", str(path)])


def test_a_resumable_checkpoint_holding_more_than_tensors_is_refused(train_data, tmp_path):
    """torch.load(weights_only=True): a checkpoint is data, never code to unpickle."""
    import fractions
    import torch
    out = tmp_path / "run"
    train_pconv(train_data, out)
    saved = torch.load(out / "resume_torch.pt", weights_only=True)
    torch.save({**saved, "extra": fractions.Fraction(1, 3)}, out / "resume_torch.pt")
    with pytest.raises(SystemExit, match=r"unreadable resumable checkpoint \(UnpicklingError: "
                       r"Weights only load failed.*\): delete it to train this run afresh$"):
        train_pconv(train_data, out)


@pytest.mark.parametrize("fault", ["changed", "missing"])
def test_a_training_image_changed_or_moved_after_preparation_stops_training(tmp_path, fault):
    """The training split is read from its files at every step (datasets/store.py): each is
    checked against the manifest's sha256, so an edited or moved image is never trained on."""
    images = np.random.default_rng(8).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    folder = store.write_png_split(tmp_path / "train", images)
    if fault == "changed":
        store.write_test_image(folder, "t1", images[0])
    else:
        (folder / "t1.png").unlink()
    expected = (r"t1\.png is not the file .*manifest\.tsv records" if fault == "changed"
                else r"t1\.png: training image 1 of .*manifest\.tsv is missing")
    with pytest.raises(SystemExit, match=f"methods.train: .*{expected}"):
        train.main(["--method", "pconv", "--framework", "torch", "--data", str(folder),
                    "--out", str(tmp_path / "run"), "--device", "cpu", "--no-download",
                    "--overrides", '{"layers": 4, "width": 4, "steps": 4, "batch_size": 4, '
                    '"vgg_terms": false}'])
