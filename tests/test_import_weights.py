"""methods/import_weights.py: the published.yaml schema (pins, refusals, sources), the pin
checks on files, the refusal of non-finite tensors, and the {weights} names of releases."""
import hashlib

import numpy as np
import pytest
import yaml

from methods import import_weights

RELEASE = {"dataset": "places2", "source": "somewhere", "name": "A release", "url": "https://x",
           "files": ["net/a.pth", "net/b.json"], "pins": {"net/a.pth": "sha256:0123abcd"},
           "architecture": "the paper's", "trained_on": "Places2", "differences": ["none"]}


def listed(tmp_path, entries):
    (tmp_path / "net").mkdir(exist_ok=True)
    (tmp_path / "net" / "published.yaml").write_text(yaml.safe_dump(entries))
    return lambda: import_weights.load_releases("net", tmp_path)


@pytest.mark.parametrize("change,message", [
    ({"pins": {"elsewhere.bin": "sha256:0123abcd"}}, r"pins name files the release does not "
     r"list: \['elsewhere.bin'\]"),
    ({"pins": {"net/a.pth": "sha256:0123abc"}}, r"the pins of \['net/a.pth'\] must be "
     "sha256:<at least 8 hex digits>"),
    ({"pins": {"net/a.pth": "md5:0123abcd"}}, "must be sha256"),
    ({"pins": {"net/a.pth": "0123abcd"}}, "must be sha256"),
    ({"pins": {"net/a.pth": "sha256:0123ABCD"}}, "must be sha256"),
    ({"pins": {}}, "pin at least one of its files, or say in 'unpinned' why"),
    ({"unpinned": "no digest"}, r"\(not both\)"),
    ({"source": "Mm-agic"}, "source must be lower-case letters, digits and _"),
    ({"refused": 3}, "'refused' must be a str"),
    ({"extra": "x"}, r"expected the keys .* \(and optionally \['refused', 'unpinned'\]\)"),
])
def test_a_malformed_entry_is_refused_naming_what_is_wrong(tmp_path, change, message):
    load = listed(tmp_path, [{**RELEASE, **change}])
    with pytest.raises(ValueError, match=message):
        load()


def test_a_missing_key_and_a_repeated_release_are_refused(tmp_path):
    with pytest.raises(ValueError, match="entry 1: expected the keys"):
        listed(tmp_path, [{k: v for k, v in RELEASE.items() if k != "architecture"}])()
    with pytest.raises(ValueError, match="one release per dataset and source"):
        listed(tmp_path, [RELEASE, RELEASE])()
    # the same dataset from two sources is two releases, two runs
    other = {**RELEASE, "source": "other", "pins": {}, "unpinned": "none published"}
    assert [r["source"] for r in listed(tmp_path, [RELEASE, other])()] == ["somewhere", "other"]
    assert [import_weights.variant(r) for r in (RELEASE, other)] == [
        "published-somewhere", "published-other"]
    assert import_weights.source_of("published-other") == "other"
    assert import_weights.source_of("retrained") is None


def test_each_kind_of_pin_accepts_its_file_and_refuses_another(tmp_path):
    folder = tmp_path / "released"
    (folder / "net").mkdir(parents=True)
    data = b"released bytes"
    (folder / "net" / "a.pth").write_bytes(data)
    (folder / "net" / "b.json").write_text("{}")
    sha256 = hashlib.sha256(data).hexdigest()
    for pin in (f"sha256:{sha256}", f"sha256:{sha256[:8]}",
                f"md5:{hashlib.md5(data).hexdigest()}", f"sha1:{hashlib.sha1(data).hexdigest()}"):
        digests = import_weights.verified_files({**RELEASE, "pins": {"net/a.pth": pin}}, folder)
        assert digests["net/a.pth"] == sha256
        assert digests["net/b.json"] == hashlib.sha256(b"{}").hexdigest()  # recorded, unpinned
        algorithm, digest = pin.split(":")
        wrong = f"{algorithm}:{'0' * len(digest)}"
        with pytest.raises(ValueError, match=f"a.pth: {algorithm} {digest[:8]}.* but A release "
                           f"has {'0' * len(digest)}"):
            import_weights.verified_files({**RELEASE, "pins": {"net/a.pth": wrong}}, folder)
    (folder / "net" / "b.json").unlink()
    with pytest.raises(FileNotFoundError, match="b.json: missing; A release comes from https://x"):
        import_weights.verified_files({**RELEASE, "pins": {"net/a.pth": f"sha256:{sha256}"}},
                                      folder)


def test_a_release_holding_a_non_finite_tensor_is_refused():
    state = {"a": np.zeros(3, np.float32), "b": np.array([1.0, np.nan], np.float32),
             "c": np.array([np.inf], np.float32)}
    with pytest.raises(ValueError, match=r"x.pth: 2 tensors hold NaN or infinite values, e\.g\. "
                       r"\['b: 1 of 2 values', 'c: 1 of 1 values'\]"):
        import_weights.check_finite(state, "x.pth")
    import_weights.check_finite({"a": state["a"]}, "x.pth")


def test_refused_releases_never_become_runs(tmp_path, monkeypatch):
    folder = tmp_path / "released"
    (folder / "net").mkdir(parents=True)
    for name in RELEASE["files"]:
        (folder / name).write_text("x")
    refused = {**RELEASE, "source": "other", "refused": "another network"}
    monkeypatch.setattr(import_weights, "load_releases",
                        lambda method_id, where: [RELEASE, refused])
    assert import_weights.importable("net", "places2", folder) == [RELEASE]
    assert import_weights.importable("net", "celebahq", folder) == []
    assert import_weights.importable("net", "places2", None) == []
