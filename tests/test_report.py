"""Report builder: bootstrap intervals, inf and unavailable handling, the four output formats,
self-containment and atomic writes, on a fabricated results tree (tiny 8x8 PNGs)."""
import binascii
import hashlib
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from report_fixture import REASON, SAMPLES, build_fixture, fabricated
from reports import build, inputs, stats, tables

@pytest.fixture(scope="module")
def report(tmp_path_factory):
    fixture = build_fixture(tmp_path_factory.mktemp("report"))
    build.main(fixture["argv"])
    out = fixture["base"] / "reports"
    fixture["html"] = (out / "demo.html").read_text()
    fixture["csv"] = pd.read_csv(out / "demo" / "summary.csv", dtype={"bucket": str})
    fixture["md"] = (out / "demo" / "irr.md").read_text()
    fixture["tex"] = (out / "demo" / "irr.tex").read_text()
    return fixture


def _row(csv: pd.DataFrame, mask_set, method, bucket, metric) -> pd.Series:
    """The row of a method's torch run (or its only one)."""
    hit = csv[(csv.mask_set == mask_set) & (csv.method == method) & (csv.bucket == bucket)
              & (csv.metric == metric) & (csv.framework != "paddle")]
    assert len(hit) == 1
    return hit.iloc[0]


def test_bootstrap_of_constant_is_the_constant():
    for constant in (0.25, 31.5, -2.0):
        low, high = stats.bootstrap_ci(np.full(7, constant), 100, np.random.default_rng(0))
        assert (low, high) == (constant, constant)


def test_bootstrap_tiny_case_by_hand():
    # Means of two draws from {0, 1} are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: of 1000
    # resamples ~250 are 0 and ~250 are 1, so the 25th and 975th smallest are 0 and 1.
    assert stats.bootstrap_ci([0.0, 1.0], 1000, np.random.default_rng(3)) == (0.0, 1.0)
    assert stats.bootstrap_ci([4.0], 10, np.random.default_rng(3)) == (4.0, 4.0)


def test_bootstrap_matches_documented_rule():
    x = np.random.default_rng(123).normal(size=20)
    got = stats.bootstrap_ci(x, 200, np.random.default_rng([7, 99]))
    draws = np.random.default_rng([7, 99]).integers(0, 20, size=(200, 20))
    means = sorted(np.mean(x[row]) for row in draws)
    # ceil(0.025 * 200) = 5 and ceil(0.975 * 200) = 195, 1-based.
    assert got == pytest.approx((means[4], means[194]), rel=1e-12)
    assert got[0] <= x.mean() <= got[1]


def test_bootstrap_blocks_draw_the_same_stream_as_one_call():
    x = np.random.default_rng(4).uniform(size=1_500_000)  # > 2**22 / 3: blocks of 2 rows
    got = stats.bootstrap_ci(x, 5, np.random.default_rng([1, 2]))
    means = np.sort(x[np.random.default_rng([1, 2]).integers(0, len(x), size=(5, len(x)))]
                    .mean(axis=1))
    assert got == (means[0], means[4])  # ranks ceil(0.125) = 1 and ceil(4.875) = 5


def test_bootstrap_coverage_near_95_percent():
    rng = np.random.default_rng(11)
    hits = 0
    for trial in range(200):
        low, high = stats.bootstrap_ci(rng.normal(size=30), 300, np.random.default_rng(trial))
        hits += low <= 0.0 <= high
    assert 0.86 <= hits / 200 <= 0.99


def test_bootstrap_with_infinities_does_not_produce_nan():
    low, high = stats.bootstrap_ci([np.inf] * 5, 100, np.random.default_rng(0))
    assert low == high == np.inf
    low, high = stats.bootstrap_ci([20.0, 21.0, 22.0, np.inf], 1000, np.random.default_rng(0))
    # P(no inf among 4 draws) = (3/4)^4 = 0.32 > 0.025, and P(inf drawn) = 0.68 > 0.025.
    assert math.isfinite(low) and high == np.inf


def test_cell_seed_is_crc32_of_the_identity():
    assert stats.cell_seed(("irr", "oracle", "numpy", "none", "all", "psnr")) == \
        binascii.crc32(b"irr|oracle|numpy|none|all|psnr")


def test_report_interval_follows_documented_generator_rule(report):
    # Six items, so the bounds depend on the draws (with three, both are often the extremes).
    values = fabricated("mean_fill", "irr", "psnr")
    rng = np.random.default_rng([0, binascii.crc32(b"irr|mean_fill|numpy|none|all|psnr")])
    means = np.sort(values[rng.integers(0, 6, size=(SAMPLES, 6))].mean(axis=1))
    row = _row(report["csv"], "irr", "mean_fill", "all", "psnr")
    assert (row.ci_low, row.ci_high) == pytest.approx((means[4], means[194]), rel=1e-12)


def test_summary_independent_of_row_order(report):
    runs = [inputs.parse_score_path(p) for p in report["scores"]]
    specs = inputs.load_specs(report["base"] / "methods", {r.method for r in runs})
    scores = inputs.load_scores(runs, specs)
    shuffled = scores.sample(frac=1.0, random_state=1).reset_index(drop=True)
    a = stats.summarise(scores, 0, 50)
    b = stats.summarise(shuffled, 0, 50)
    pd.testing.assert_frame_equal(a, b)


def test_grid_picks_diagonal_of_buckets():
    pairing = pd.DataFrame({"item": ["a0", "a1", "a2", "b0", "b1", "b2"],
                            "bucket": ["A"] * 3 + ["B"] * 3})
    picks = inputs.pick_items(pairing, ["A", "B"])
    assert list(picks["item"]) == ["a0", "b1", "a2", "b0", "a1", "b2"]
    assert list(inputs.pick_items(pairing, ["A", "B"], limit=3)["item"]) == ["a0", "b1", "a2"]
    box = pd.DataFrame({"item": [f"i{k:02d}" for k in range(16)], "bucket": "box"})
    assert list(inputs.pick_items(box, ["box"])["item"]) == [f"i{k:02d}" for k in range(6)]


def test_parse_score_path_right_to_left():
    run = inputs.parse_score_path("/x/y/results/score/ds/ms/meth/torch/retrained.tsv")
    assert (run.root, run.dataset, run.mask_set, run.method, run.framework, run.weights) == \
        (Path("/x/y/results"), "ds", "ms", "meth", "torch", "retrained")
    assert run.predictions == Path("/x/y/results/predict/ds/ms/meth/torch/retrained/"
                                   "predictions.tsv")
    assert inputs.parse_score_path("score/d/m/a/b/c.tsv").root == Path(".")
    with pytest.raises(ValueError):
        inputs.parse_score_path("results/scores/d/m/a/b/c.tsv")


def test_all_column_is_mean_over_every_item(report):
    expected = fabricated("mean_fill", "irr", "l1").mean()
    row = _row(report["csv"], "irr", "mean_fill", "all", "l1")
    assert row.n == 6
    assert row["mean"] == pytest.approx(expected, rel=1e-12)
    first = fabricated("mean_fill", "irr", "l1")[:3].mean()
    assert _row(report["csv"], "irr", "mean_fill", "(0.01,0.1]", "l1")["mean"] == \
        pytest.approx(first, rel=1e-12)


def test_csv_raw_values_and_markdown_shows_l1_times_100(report):
    row = _row(report["csv"], "irr", "toynet", "(0.1,0.2]", "l1")
    raw = fabricated("toynet", "irr", "l1")[3:].mean()
    assert row["mean"] == pytest.approx(raw, rel=1e-12)
    assert row.ci_low <= row["mean"] <= row.ci_high
    assert f"{raw * 100:.2f} [" in report["md"]
    assert list(report["csv"].columns) == stats.COLUMNS


def test_infinite_psnr(report):
    csv = report["csv"]
    oracle = _row(csv, "irr", "oracle", "all", "psnr")
    assert oracle["mean"] == np.inf and oracle.ci_low == np.inf and oracle.ci_high == np.inf
    toynet = _row(csv, "irr", "toynet", "(0.01,0.1]", "psnr")
    assert toynet["mean"] == np.inf and toynet.ci_high == np.inf
    oracle_md = "| control | oracle | numpy | none | ∞ (3/3 ∞) | ∞ (3/3 ∞) | ∞ (6/6 ∞) |"
    assert oracle_md in report["md"]
    assert re.search(r"\| toynet \| torch \| retrained \| ∞ \[[0-9.]+, ∞\] \(1/3 ∞\) \|",
                     report["md"])
    assert "mean of ∞" in report["html"] and "$\\infty$" in report["tex"]


def test_unavailable_metric_and_no_nan_anywhere(report):
    out = report["base"] / "reports"
    assert report["html"].count(REASON) >= 2  # table notes of both mask sets
    assert "unavailable" in _row(report["csv"], "irr", "toynet", "all", "lpips").status
    assert "| unavailable |" in report["md"]
    for path in [out / "demo.html", *sorted((out / "demo").glob("*.[cmt][sde]*"))]:
        text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", path.read_text())
        assert not re.search(r"\bnan\b", text, re.IGNORECASE), path


def test_fid_has_value_and_n_but_no_interval(report):
    row = _row(report["csv"], "irr", "mean_fill", "(0.1,0.2]", "fid")
    assert (row["mean"], row.n) == (50.0, 3) and math.isnan(row.ci_low)
    whole = _row(report["csv"], "irr", "mean_fill", "all", "fid")  # the set's own FID row
    assert (whole["mean"], whole.n) == (99.0, 6) and math.isnan(whole.ci_low)
    assert "| classical | mean_fill | numpy | none | 40.00 | 50.00 | 99.00 |" in report["md"]
    fid_table = report["md"][report["md"].index("irr: FID"):]
    assert fid_table.split("\n")[2].count("all (N=6)") == 1  # one 'all' column, not a bucket
    assert "(0.1,0.2] (N=3)" in report["md"] and "FID has no interval here" in report["html"]


def test_buckets_ordered_and_rows_grouped(report):
    md = report["md"]
    assert md.index("(0.01,0.1] (N=3)") < md.index("(0.1,0.2] (N=3)") < md.index("all (N=6)")
    assert md.index("| control |") < md.index("| classical |") < md.index("| learned |")


def test_n_in_cells_when_the_column_has_several():
    rows = [dict(mask_set="m", method=method, framework="numpy", weights="none",
                 kind="classical", bucket="b", metric="ssim", n=n, mean=0.5, ci_low=0.25,
                 ci_high=0.75, status="ok", n_inf=0) for method, n in (("a", 3), ("c", 4))]
    table = tables.build_table(pd.DataFrame(rows), "m", "ssim", ["b"])
    assert table.headers == ["b", "all"]
    assert [cells for _, body in table.groups for _, cells in body] == \
        [["0.5000 [0.2500, 0.7500] N=3", "—"], ["0.5000 [0.2500, 0.7500] N=4", "—"]]


def test_latex_booktabs_and_units(report):
    tex = report["tex"]
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    # psnr ssim l1 l1_hole lpips fid; the agreement; comparisons of the 5 item metrics
    assert tex.count(r"\begin{table}") == 6 + 1 + 5
    assert "PSNR (dB" in tex and r"mean\_fill" in tex and r"\%" in tex


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.imgs, self.open = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.refs += [attrs[a] for a in ("src", "href") if a in attrs]
        if tag == "img":
            self.imgs.append(attrs["src"])


def test_html_self_contained(report):
    html = report["html"]
    parser = _Collector()
    parser.feed(html)
    assert not any(ref.startswith(("http:", "https:", "//")) for ref in parser.refs)
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*https?://", html, re.IGNORECASE)
    assert parser.imgs and all(src.startswith("data:image/png;base64,") for src in parser.imgs)
    # irr: 2 buckets -> plots for psnr ssim l1 l1_hole fid (lpips unavailable); grid rows:
    # irr 6 items x 8 images (masked input, 6 runs, ground truth), box 4 items x 8 images;
    # training curves of toynet and shifted.
    assert len(parser.imgs) == 5 + 6 * 8 + 4 * 8 + 2
    for text in ("The toynet method", "toynet deviation one", "Provenance",
                 "paddle, torch training runs: trained without the style term",
                 # sha256 of the bytes b"toynet torch", so the digest is the file's own:
                 "weights.safetensors sha256: " + hashlib.sha256(b"toynet torch").hexdigest(),
                 "date_utc: 2025-01-01T00:01:00+00:00", f"alexnet: {REASON}",
                 "inception: sha256: ab12", "provenance file missing",
                 "pred*mask + image*(1-mask)", "gaussian_weights=True"):
        assert text in html


def test_no_temp_files_left_beside_the_report(report):
    out = report["base"] / "reports"
    assert not [p for p in out.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_pairing_mismatch_fails_clearly(tmp_path):
    fixture = build_fixture(tmp_path)
    path = tmp_path / "results/predict/demo/irr/toynet/torch/retrained/predictions.tsv"
    table = pd.read_csv(path, sep="\t")
    table.loc[0, "mask_id"] = "m5"
    table.to_csv(path, sep="\t", index=False)
    with pytest.raises(ValueError, match="pairing differs"):
        build.main(fixture["argv"])


def test_cited_tables_carry_the_training_deviations_of_their_rows(report):
    """Once per Markdown file, in every LaTeX caption, and once on the page (Methods), where
    the tables' method names link."""
    note = "toynet (paddle, torch, retrained) was trained with recorded deviations from its " \
        "paper: trained without the style term."
    assert report["md"].count(note) == 1
    assert report["tex"].count("trained without the style term") == 12
    assert report["html"].count("trained without the style term") == 1
    assert '<a href="#method-toynet">toynet</a>' in report["html"]
    assert 'id="method-toynet"' in report["html"]


def test_cited_tables_and_the_page_state_the_inference_options_used(report):
    note = "toynet (paddle, retrained; torch, retrained) was predicted with inference " \
        "options: smooth: true (spec default false) (methods/toynet/spec.yaml and README.md " \
        "say what they do)."
    assert note in report["md"] and note in report["html"]
    assert "smooth: true" in report["tex"]
    notes = [line for line in report["md"].splitlines() if "predicted with inference" in line]
    assert notes and all("toynet (paddle, retrained; torch, retrained)" in line
                         for line in notes)


def test_a_subset_and_a_non_official_split_are_stated_on_the_page_and_under_each_table(report):
    assert "subset: 2 of 30,000 images" in report["html"]
    assert "Data: subset: 2 of 30,000 images of dataset demo." in report["md"]
    assert "Split: NOT the official split: fabricated" in report["tex"]


def test_every_cited_table_states_how_its_items_were_chosen(report):
    rule = "Items: every test image in every bucket: a bucket of K masks holds max(K, n) items"
    # once per Markdown file and on the page (above the tables); in every LaTeX caption, since
    # a table cited from there must stand alone
    assert report["md"].count(rule) == 1 and report["html"].count(rule) == 2  # 2 mask sets
    assert report["tex"].count(rule) == report["tex"].count(r"\begin{table}") == 12


def test_an_unavailable_cell_counts_no_infinite_items():
    # One item cell of two PSNR rows, one unscorable: the cell is void, with no infinite value.
    rows = pd.DataFrame(dict(mask_set="irr", method="m", framework="numpy", weights="none",
                             kind="classical", bucket="(0.1,0.2]", item=["a", "b"], metric="psnr",
                             value=[np.inf, np.nan], status=["ok", REASON]))
    summary = stats.summarise(rows, seed=0, samples=10)
    assert list(summary.bucket) == ["(0.1,0.2]", "all"]
    assert (summary.status == REASON).all() and (summary.n == 2).all()
    assert (summary.n_inf == 0).all() and summary["mean"].isna().all()
