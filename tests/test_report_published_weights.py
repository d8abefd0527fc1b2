"""Published (imported) weights in the report: their rows beside the retrained ones, the release
they came from with its files' sha256, and 'published weights: not provided' where a method
has none (reports/published.py weights_notes)."""
import json
from html import escape

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from report_fixture import build_fixture, write_run
from reports import build

RELEASE = {"dataset": "demo", "source": "toy_release", "name": "Toynet demo release",
           "url": "https://example.org/toynet", "files": ["toynet/toy.pth"],
           "pins": {"toynet/toy.pth": "sha256:" + "ab" * 32},
           "architecture": "toynet's own network", "trained_on": "the toy photographs",
           "differences": ["Trained for 9 days by its authors."]}


def with_release(base, imported):
    """The fixture plus toynet's published.yaml, and (imported) published runs of toynet in
    both frameworks with the checkpoint the workflow's import step writes."""
    (base / "methods" / "toynet" / "published.yaml").write_text(yaml.safe_dump([RELEASE]))
    scores = []
    if imported:
        root = base / "results"
        scores = [write_run(root, ms, "toynet", fw, "published-toy_release")
                  for ms in ("irr", "box") for fw in ("torch", "paddle")]
        origin = {"name": RELEASE["name"], "url": RELEASE["url"], "source": "toy_release",
                  "files": {"toynet/toy.pth": "ab" * 32}}
        path = root / "published" / "demo" / "toynet" / "toy_release" / "weights.safetensors"
        path.parent.mkdir(parents=True)
        save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"harness": json.dumps(
            {"method": "toynet", "weights": "published-toy_release", "params": {},
             "origin": origin})})
    return scores


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    fixture = build_fixture(tmp_path_factory.mktemp("published_weights"))
    extra = with_release(fixture["base"], imported=True)
    build.main([*fixture["argv"], *map(str, extra)])
    return fixture["base"]


def test_published_rows_sit_beside_the_retrained_ones_with_their_release(imported):
    html = (imported / "reports" / "demo.html").read_text()
    markdown = (imported / "reports" / "demo" / "irr.md").read_text()
    latex = (imported / "reports" / "demo" / "irr.tex").read_text()
    for framework in ("torch", "paddle"):
        assert f"| toynet | {framework} | published-toy_release |" in markdown
        assert f"| toynet | {framework} | retrained |" in markdown
    note = ("toynet (published-toy_release) is Toynet demo release (https://example.org/toynet), "
            f"imported from toynet/toy.pth (sha256 {'ab' * 32}) by the exact mapping of "
            "methods/toynet/published.py and never trained here; how its training differs "
            "from this harness's protocol: Trained for 9 days by its authors.")
    assert escape(note) in html and note in markdown
    assert "Toynet demo release" in latex
    assert escape("shifted: published weights: not provided (no release trained on demo is "
                  "listed in methods/shifted/published.yaml).") in html
    assert "Imported weights" in html and "toynet / published-toy_release" in html
    assert "Imported weights" in html and "toynet/toy.pth sha256: " + "ab" * 32 in html
    # the ports' agreement is measured for the published weights too
    paired = (imported / "reports" / "demo" / "paired.csv").read_text()
    assert ("irr,agreement,toynet / paddle / published-toy_release,toynet / torch / "
            "published-toy_release,") in paired


def test_a_release_that_is_not_in_the_folder_is_said_to_be_not_provided(tmp_path):
    fixture = build_fixture(tmp_path)
    with_release(fixture["base"], imported=False)
    build.main(fixture["argv"])
    html = (tmp_path / "reports" / "demo.html").read_text()
    assert escape("toynet: published-toy_release: published weights: not provided (Toynet "
                  "demo release: put toynet/toy.pth from https://example.org/toynet under "
                  "configs/config.yaml published_weights_dir to score it).") in html
    assert "| published-toy_release |" not in (tmp_path / "reports" / "demo" / "irr.md").read_text()


def test_a_published_checkpoint_without_its_origin_is_refused(tmp_path):
    fixture = build_fixture(tmp_path)
    extra = with_release(fixture["base"], imported=True)
    path = (tmp_path / "results" / "published" / "demo" / "toynet" / "toy_release"
            / "weights.safetensors")
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"harness": "{}"})
    with pytest.raises(ValueError, match="not an imported release"):
        build.main([*fixture["argv"], *map(str, extra)])
    # another release's checkpoint in this release's place
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"harness": json.dumps(
        {"method": "toynet", "weights": "published-zoo", "params": {}, "origin": {}})})
    with pytest.raises(ValueError, match="not an imported release of published-toy_release"):
        build.main([*fixture["argv"], *map(str, extra)])


def test_published_rows_whose_release_is_no_longer_listed_are_refused(tmp_path):
    fixture = build_fixture(tmp_path)
    extra = with_release(fixture["base"], imported=True)
    (tmp_path / "methods" / "toynet" / "published.yaml").write_text("[]")
    with pytest.raises(ValueError, match="no longer lists an importable release trained on "
                       "demo from toy_release"):
        build.main([*fixture["argv"], *map(str, extra)])


def test_refused_and_unpinned_releases_are_said_so(tmp_path):
    """A refused release is named with its reason whether or not its file is provided; an
    unpinned one's note says its digests were checked against none."""
    fixture = build_fixture(tmp_path)
    extra = with_release(fixture["base"], imported=True)
    refused = {**RELEASE, "source": "zoo", "name": "Toynet zoo release",
               "architecture": "toynet with its last layer clipped", "refused": "no sigmoid"}
    unpinned = {**RELEASE, "pins": {}, "unpinned": "its page gives no digest"}
    partly = {**RELEASE, "source": "two_files", "files": ["toynet/a.pth", "toynet/b.json"],
              "pins": {"toynet/a.pth": "sha256:" + "cd" * 32}}
    (tmp_path / "methods" / "toynet" / "published.yaml").write_text(
        yaml.safe_dump([unpinned, refused, partly]))
    path = (tmp_path / "results" / "published" / "demo" / "toynet" / "toy_release"
            / "weights.safetensors")
    origin = {"name": RELEASE["name"], "url": RELEASE["url"], "source": "toy_release",
              "files": {"toynet/toy.pth": "ab" * 32}, "pins": {},
              "unpinned": "its page gives no digest"}
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"harness": json.dumps(
        {"method": "toynet", "weights": "published-toy_release", "params": {},
         "origin": origin})})
    two = (tmp_path / "results" / "published" / "demo" / "toynet" / "two_files"
           / "weights.safetensors")
    two.parent.mkdir(parents=True)
    two_origin = {"name": RELEASE["name"], "url": RELEASE["url"], "source": "two_files",
                  "files": {"toynet/a.pth": "cd" * 32, "toynet/b.json": "ef" * 32},
                  "pins": partly["pins"]}
    save_file({"w": np.zeros(2, np.float32)}, str(two), metadata={"harness": json.dumps(
        {"method": "toynet", "weights": "published-two_files", "params": {},
         "origin": two_origin})})
    extra += [write_run(tmp_path / "results", ms, "toynet", fw, "published-two_files")
              for ms in ("irr", "box") for fw in ("torch", "paddle")]
    build.main([*fixture["argv"], *map(str, extra)])
    html = (tmp_path / "reports" / "demo.html").read_text()
    assert escape(f"toynet/b.json (sha256 {'ef' * 32}) (its publisher gave no digest of "
                  "toynet/b.json)") in html
    assert escape("toynet: published-zoo: refused (Toynet zoo release, toynet/toy.pth, is "
                  "toynet with its last layer clipped; no sigmoid).") in html
    assert escape(f"toynet/toy.pth (sha256 {'ab' * 32}) (unpinned: its page gives no digest; "
                  "so these digests are the files' as imported, checked against none)") in html
