"""The train CLI's settings: spec defaults, config overrides, and the deviations they imply."""
import pytest

import methods
from methods.train import resolve_settings


def test_overrides_replace_defaults_and_each_change_is_a_deviation():
    spec = methods.load_spec("pconv")
    params, training, deviations = resolve_settings(
        spec, {"width": 16, "steps": 400, "lr": spec["training"]["lr"]}, "test")
    assert params["width"] == 16 and training["steps"] == 400
    assert params["layers"] == spec["params"]["layers"]
    # lr was "overridden" with its default value: not a deviation.
    assert deviations == ["width: 16 (spec default 64)", "steps: 400 (spec default 1000000)"]


def test_an_unknown_override_is_refused_naming_it():
    with pytest.raises(ValueError, match="'colour' is not a parameter of methods/pconv"):
        resolve_settings(methods.load_spec("pconv"), {"colour": 1}, "test")
