"""The method contract, run over every discovered method x framework automatically."""
from pathlib import Path

import numpy as np
import pytest
import yaml

import methods

CASES = [(m, f) for m, spec in methods.discover().items() for f in spec["frameworks"]]


def batch(seed, size=256):
    """Two seeded images at 256 px, the evaluation size the learned methods are built for."""
    rng = np.random.default_rng([seed, 0])
    image = rng.random((2, 3, size, size), dtype=np.float32)
    mask = np.zeros((2, 1, size, size), np.float32)
    mask[0, :, 64:160, 80:192] = 1
    mask[1, :, 16:72, 24:240] = 1
    return image, mask


@pytest.mark.parametrize("method_id,framework", CASES)
def test_inpaint_obeys_the_boundary_convention(method_id, framework):
    spec = methods.load_spec(method_id)
    module = methods.implementation(method_id, framework)
    model = module.build(spec)
    image, mask = batch(0)
    pred = module.inpaint(model, methods.method_input(image, mask, spec), mask)
    assert pred.shape == image.shape and pred.dtype == np.float32
    assert np.isfinite(pred).all() and pred.min() >= 0 and pred.max() <= 1
    again = module.inpaint(model, methods.method_input(image, mask, spec), mask)
    np.testing.assert_array_equal(pred, again)


@pytest.mark.parametrize("method_id,framework", CASES)
def test_a_method_cannot_see_the_hole_unless_it_is_the_oracle(method_id, framework):
    spec = methods.load_spec(method_id)
    module = methods.implementation(method_id, framework)
    model = module.build(spec)
    image, mask = batch(1)
    other = np.where(mask > 0, 1.0 - image, image).astype(np.float32)  # new hole content only
    pred = module.inpaint(model, methods.method_input(image, mask, spec), mask)
    pred_other = module.inpaint(model, methods.method_input(other, mask, spec), mask)
    assert np.array_equal(pred, pred_other) != spec["sees_ground_truth"]


def test_discover_finds_the_four_first_methods():
    assert {"mean_fill", "oracle", "telea", "biharmonic"} <= set(methods.discover())


def test_a_bad_spec_is_refused_with_its_file_named(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    good = yaml.safe_load((Path(methods.ROOT) / "telea" / "spec.yaml").read_text())
    (folder / "model_numpy.py").write_text("")
    for broken, message in [({**good, "id": "bad", "colour": 1}, "unknown keys"),
                            ({**good, "id": "bad", "sees_ground_truth": True}, "only a control"),
                            ({**good, "id": "bad", "frameworks": ["jax"]}, "frameworks"),
                            ({**good}, "must equal the folder name")]:
        (folder / "spec.yaml").write_text(yaml.safe_dump(broken))
        with pytest.raises(ValueError, match=message) as err:
            methods.discover(tmp_path)
        assert str(folder / "spec.yaml") in str(err.value)


def test_mean_fill_fills_with_the_known_mean():
    image, mask = batch(2)
    spec = methods.load_spec("mean_fill")
    pred = methods.implementation("mean_fill", "numpy").inpaint(None, image * (1 - mask), mask)
    known = mask[0, 0] == 0
    np.testing.assert_allclose(pred[0, :, 0, 0], image[0][:, known].mean(axis=1), rtol=1e-5)
    assert spec["kind"] == "control"


def test_biharmonic_reproduces_a_linear_ramp_inside_the_hole():
    # A linear function is biharmonic (its Laplacian is 0), so the biharmonic fill of a hole
    # in a ramp is the ramp itself, up to the solver's discretisation at the border.
    ramp = np.linspace(0.1, 0.9, 32, dtype=np.float32)
    image = np.broadcast_to(ramp[None, None, None, :], (1, 3, 32, 32)).copy()
    mask = np.zeros((1, 1, 32, 32), np.float32)
    mask[..., 10:22, 8:24] = 1
    pred = methods.implementation("biharmonic", "numpy").inpaint(None, image * (1 - mask), mask)
    assert np.abs(pred - image)[mask.repeat(3, 1) > 0].max() < 1e-3


@pytest.mark.parametrize("method_id,framework", CASES)
def test_build_neither_draws_from_the_global_generator_nor_depends_on_it(method_id,
                                                                         framework):
    """DESIGN.md: every random draw comes from a seeded generator. Building a model leaves
    the framework's global generator where it was, and two builds give the same model."""
    spec = methods.load_spec(method_id)
    module = methods.implementation(method_id, framework)
    image, mask = batch(3, size=128)
    if framework == "paddle":  # a draw moves paddle's generator: compare two equal draws
        import paddle
        paddle.seed(1)
        reference = paddle.rand([4]).numpy()
        paddle.seed(1)
        model = module.build(spec)
        np.testing.assert_array_equal(paddle.rand([4]).numpy(), reference)
    elif framework == "torch":
        import torch
        before = torch.random.get_rng_state()
        model = module.build(spec)
        assert torch.equal(torch.random.get_rng_state(), before)
    else:
        model = module.build(spec)
    again = module.build(spec)
    if spec["kind"] == "learned":
        np.testing.assert_array_equal(module.inpaint(model, image * (1 - mask), mask),
                                      module.inpaint(again, image * (1 - mask), mask))


def test_inference_options_are_checked_by_name_and_kind():
    spec = methods.load_spec("glcic")
    assert methods.resolve_inference(spec, {}) == {"postprocess": True}
    assert methods.resolve_inference(spec, {"postprocess": False}) == {"postprocess": False}
    with pytest.raises(ValueError, match="sharpen.*not among the settings"):
        methods.resolve_inference(spec, {"sharpen": True})
    with pytest.raises(ValueError, match="postprocess must be true or false.*methods/glcic"):
        methods.resolve_inference(spec, {"postprocess": "false"})  # a truthy string
