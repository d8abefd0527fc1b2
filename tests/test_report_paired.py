"""The report's answers: torch-vs-paddle agreement and method comparisons (paired bootstrap on
the same items, recomputed here from the score TSVs by the documented rule), published figures
beside the harness's, and the training curves."""
import json
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import methods
from report_fixture import REASON, REPORTED, SAMPLES, SHIFT, build_fixture
from reports import build, curves, inputs, paired, stats

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    fixture = build_fixture(tmp_path_factory.mktemp("paired"))
    build.main(fixture["argv"])
    out = fixture["base"] / "reports"
    fixture["out"] = out
    fixture["html"] = (out / "demo.html").read_text()
    fixture["paired"] = pd.read_csv(out / "demo" / "paired.csv", dtype={"bucket": str})
    return fixture


def recompute(score_dir: Path, mask_set: str, a: str, b: str, bucket: str, metric: str,
              seed: int, samples: int) -> tuple[float, float, float]:
    """The mean of a - b over the bucket's items and its 95% paired bootstrap interval, from
    the two score tables alone: items sorted by id (as strings), B index draws from
    default_rng([seed, crc32('paired|<mask_set>|<bucket>')]) of shape (B, n), each resample's
    mean of the differences at those items, the ceil(0.025 B)-th and ceil(0.975 B)-th
    smallest."""
    def table(run):
        method, framework, weights = run.split(" / ")
        frame = pd.read_csv(score_dir / mask_set / method / framework / f"{weights}.tsv",
                            sep="\t", dtype={"item": str, "bucket": str})
        frame = frame[frame["metric"] == metric]
        return frame if bucket == "all" else frame[frame["bucket"] == bucket]
    left, right = table(a), table(b)
    merged = left.merge(right, on=["item", "image_id", "mask_id"], suffixes=("_a", "_b"))
    assert len(merged) == len(left) == len(right)
    merged = merged.sort_values("item")
    diffs = (merged["value_a"] - merged["value_b"]).to_numpy()
    crc = zlib.crc32(f"paired|{mask_set}|{bucket}".encode())
    draws = np.random.default_rng([seed, crc]).integers(0, len(diffs), (samples, len(diffs)))
    means = np.sort(diffs[draws].mean(axis=1))
    return (diffs.mean(), means[math.ceil(0.025 * samples) - 1],
            means[math.ceil(0.975 * samples) - 1])


def cell(table: pd.DataFrame, **where) -> pd.Series:
    hit = table.loc[np.logical_and.reduce([table[k] == v for k, v in where.items()])]
    assert len(hit) == 1, where
    return hit.iloc[0]


@pytest.mark.parametrize("bucket,metric", [("(0.01,0.1]", "l1"), ("all", "ssim")])
def test_two_agreement_cells_recomputed_from_the_score_tables(report, bucket, metric):
    row = cell(report["paired"], mask_set="irr", comparison="agreement", bucket=bucket,
               metric=metric, a="toynet / paddle / retrained")
    assert row.b == "toynet / torch / retrained" and row.status == "ok"
    expected = recompute(report["base"] / "results" / "score" / "demo", "irr", row.a, row.b,
                         bucket, metric, 0, SAMPLES)
    assert (row["mean"], row.ci_low, row.ci_high) == pytest.approx(expected, rel=1e-9,
                                                                    abs=1e-12)
    assert row["mean"] != 0  # the fixture's paddle run differs item by item


def test_a_comparison_cell_recomputed_from_the_score_tables(report):
    row = cell(report["paired"], mask_set="irr", comparison="methods", bucket="(0.1,0.2]",
               metric="l1_hole", a="toynet / torch / retrained", b="mean_fill / numpy / none")
    expected = recompute(report["base"] / "results" / "score" / "demo", "irr", row.a, row.b,
                         "(0.1,0.2]", "l1_hole", 0, SAMPLES)
    assert (row["mean"], row.ci_low, row.ci_high) == pytest.approx(expected, rel=1e-9)
    assert row.n == 3


def test_a_planted_difference_is_called_in_every_bucket(report):
    """shifted = toynet + a constant (worse in every metric): every finite cell is called for
    toynet, with mean and both bounds equal to the constant; the PSNR cells that hold
    toynet's identical image (inf - inf) are refused as not comparable."""
    rows = report["paired"][(report["paired"]["a"] == "shifted / torch / retrained")
                            & (report["paired"]["b"] == "toynet / torch / retrained")]
    assert len(rows) == (3 + 2) * 5  # irr: 2 buckets + all, box: 1 + all; 5 item metrics
    for row in rows[rows["metric"] != "lpips"].itertuples():
        if row.metric == "psnr" and row.bucket != "(0.1,0.2]":  # item 0 is in every other
            assert row.status.startswith("not comparable: 1 of")
            continue
        assert row.status == "ok" and row.call == "b better", row
        assert row.mean == pytest.approx(SHIFT[row.metric])
        assert row.ci_low == pytest.approx(SHIFT[row.metric])
        assert row.ci_high == pytest.approx(SHIFT[row.metric])
    assert 'class="num better-b">-1.00 B<br><span class="ci">[-1.00, -1.00]</span>' \
        in report["html"]  # PSNR, coloured as B's win


def test_identical_outputs_are_not_called_and_agree_within_zero():
    """Two frameworks' runs with the same values: every difference is 0, nothing is called,
    and the verdict says they agree within 0."""
    rng = np.random.default_rng(3)
    items = [str(i) for i in range(12)]
    base = pd.DataFrame({"item": items, "image_id": items, "mask_id": items,
                         "bucket": ["(0.1,0.2]"] * 6 + ["(0.2,0.3]"] * 6,
                         "metric": "l1", "value": rng.uniform(0, 0.1, 12), "status": "ok"})
    scores = pd.concat([base.assign(mask_set="m", method="net", framework=fw,
                                    weights="retrained") for fw in ("torch", "paddle")])
    specs = {"net": {"kind": "learned"}}
    keys = [("net", "paddle", "retrained"), ("net", "torch", "retrained")]
    cells = paired.paired(scores, specs, seed=0, samples=100, mask_sets=["m"], keys=keys)
    assert len(cells) == 3 and (cells["comparison"] == "agreement").all()
    assert (cells["call"] == "agree").all()
    assert (cells[["mean", "ci_low", "ci_high"]] == 0).all().all()
    from reports.paired_tables import verdicts
    assert verdicts(cells, "m") == ["net (retrained): paddle and torch agree within L1 ±0.00 % "
                                    "in every bucket: every 95% paired interval contains 0."]
    # paddle 0.01 worse in one bucket only: the verdict names that bucket and 'all'
    shifted = scores["value"] + np.where((scores["framework"] == "paddle")
                                         & (scores["bucket"] == "(0.2,0.3]"), 0.01, 0.0)
    cells = paired.paired(scores.assign(value=shifted), specs, seed=0, samples=100,
                          mask_sets=["m"], keys=keys)
    assert verdicts(cells, "m") == [
        "net (retrained): paddle and torch differ (L1 in (0.2,0.3], all: the interval excludes "
        "0); all intervals lie within L1 ±1.00 %."]


def test_runs_that_score_different_items_are_not_compared():
    rows = pd.DataFrame({"item": ["0", "0"], "image_id": ["a", "b"], "mask_id": ["m", "m"],
                         "bucket": "(0.1,0.2]", "metric": "l1", "value": [0.1, 0.2],
                         "status": "ok", "mask_set": "s", "method": "net",
                         "framework": ["torch", "paddle"], "weights": "retrained"})
    with pytest.raises(ValueError, match="item 0 pairs a different image, mask or bucket"):
        paired.paired(rows, {"net": {"kind": "learned"}}, 0, 10, ["s"],
                      [("net", "paddle", "retrained"), ("net", "torch", "retrained")])


def test_pairs_compare_learned_runs_with_baselines_and_each_other_within_a_framework(report):
    pairs = set(zip(report["paired"]["comparison"], report["paired"]["a"],
                    report["paired"]["b"]))
    assert pairs == {
        ("agreement", "toynet / paddle / retrained", "toynet / torch / retrained"),
        *{("methods", a, b) for a in ("shifted / torch / retrained", "toynet / paddle / retrained",
                                      "toynet / torch / retrained")
          for b in ("mean_fill / numpy / none", "telea / numpy / none")},
        ("methods", "shifted / torch / retrained", "toynet / torch / retrained")}
    # no oracle (it sees the ground truth), no paddle-vs-torch method pairs


def test_the_resamples_equal_one_draw_of_all_indices():
    """Blocks of resamples draw the same stream as one rng.integers(0, n, (B, n)) call."""
    diffs = np.random.default_rng(1).normal(size=(50, 3))
    blocked = paired.resampled_means(diffs, 40, np.random.default_rng(9))
    draws = np.random.default_rng(9).integers(0, 50, size=(40, 50))
    assert blocked == pytest.approx(diffs[draws].mean(axis=1), rel=1e-12)


def test_the_exports_and_the_page_carry_the_agreement_and_its_verdict(report):
    md = (report["out"] / "demo" / "irr.md").read_text()
    tex = (report["out"] / "demo" / "irr.tex").read_text()
    assert "### irr: Framework agreement: paddle − torch, same items" in md
    assert r"\label{tab:irr-agreement}" in tex and r"paddle $-$ torch" in tex
    assert "toynet (retrained): paddle and torch" in md
    assert "Framework agreement (torch vs paddle)" in report["html"]
    agreement = md.split("### irr: Framework agreement")[1].split("- Each cell: the mean over "
                                                                  "the bucket's items of A − B")[0]
    assert "| paddle − torch | toynet | retrained | L1 (%) |" in agreement
    assert "shifted" not in agreement and "mean_fill" not in agreement
    # its LPIPS rows are unavailable, and its PSNR rows with toynet's identical image are not
    # comparable: the table's own note gives both reasons
    assert "reasons, verbatim: not comparable: 1 of 3 items" in agreement and REASON in agreement
    assert "A − B: L1 (%, i.e. mean absolute error ×100; lower is better)" in md


def test_published_figures_sit_beside_the_harness_cells_of_the_same_mask_kind(report):
    html, md = report["html"], (report["out"] / "demo" / "box.md").read_text()
    assert "Toy et al., Table 9" in html and "Their boxes are drawn at random" in md
    assert "| published | Toy et al., Table 9 | 21.50 | 12.34 |" in md
    assert "| row | source / cells | PSNR (dB; higher is better) | L1 (hole) (%, i.e. mean " \
        "absolute error ×100; lower is better) |" in md
    summary = stats.summarise(inputs.load_scores(
        [inputs.parse_score_path(p) for p in report["scores"]],
        inputs.load_specs(report["base"] / "methods", {"toynet", "oracle", "mean_fill", "telea",
                                                        "shifted"})), 0, SAMPLES)
    mine = cell(summary, mask_set="box", method="toynet", framework="torch", bucket="all",
                metric="l1_hole")
    line = next(line for line in md.splitlines()
                if line.startswith("| this harness: toynet / torch / retrained | mask set box"))
    assert line.endswith(f"| {mine['mean'] * 100:.2f} [{mine.ci_low * 100:.2f}, "
                         f"{mine.ci_high * 100:.2f}] N=4 |")  # columns PSNR, L1 (hole)
    irregular = (report["out"] / "demo" / "irr.md").read_text()
    assert "No published figure is recorded for dataset demo with irregular masks" in irregular


def test_a_published_figure_of_an_unknown_metric_or_shape_is_refused(tmp_path):
    from reports import published
    with pytest.raises(ValueError, match="methods/net/reported.yaml: values name unknown "
                                         r"metrics \['mae'\]"):
        published.matching({"net": {"reported": [{**REPORTED, "values": {"mae": 1.0}}]}},
                           "demo", "box")
    with pytest.raises(ValueError, match=r"x.yaml: entry 1: expected the keys"):
        methods.check_reported({"source": "s"}, "x.yaml: entry 1")
    (tmp_path / "reported.yaml").write_text("source: s\n")
    with pytest.raises(ValueError, match="reported.yaml: expected a list of published figures"):
        methods.load_reported(tmp_path)
    (tmp_path / "reported.yaml").write_text(yaml.safe_dump([{**REPORTED, "masks": "disc"}]))
    with pytest.raises(ValueError, match=r"reported.yaml: entry 1: masks must be one of "
                                         r"\('box', 'irregular'\), not 'disc'"):
        methods.load_reported(tmp_path)


def test_the_specs_published_figures_are_mmagics_as_published():
    """The figures quoted from open-mmlab/mmagic configs/*/README.md (l1 error, PSNR, SSIM)."""
    quoted = {m: {(e["dataset"], e["masks"]): e["values"]
                  for e in methods.load_reported(ROOT / "methods" / m)}
              for m in ("glcic", "deepfill_v1", "pconv")}
    assert quoted["glcic"][("celebahq", "box")] == {"l1_hole": 6.678, "psnr": 26.780,
                                                    "ssim": 0.904}
    assert quoted["deepfill_v1"][("places2", "box")] == {"l1_hole": 11.019, "psnr": 23.429,
                                                         "ssim": 0.862}
    assert quoted["pconv"][("places2", "irregular")] == {"l1_hole": 8.776, "psnr": 22.762,
                                                         "ssim": 0.801}


def test_training_curves_overlay_both_frameworks_per_method(report):
    assert (report["out"] / "demo" / "curves_toynet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "toynet: every float field of log.jsonl against the step (torch 12 steps, paddle " \
        "12 steps); one point per step" in report["html"]
    assert 'id="training"' in report["html"]


def test_a_long_log_is_drawn_as_window_means(tmp_path):
    log = pd.DataFrame({"step": range(1234), "loss": np.arange(1234, dtype=float)})
    means, k = curves.window_means(log, ["loss"])
    assert k == 3 and len(means) == 412  # ceil(1234 / 500) = 3; ceil(1234 / 3) windows
    assert curves.window_means(log.head(500), ["loss"])[1] == 1  # 500 points drawn as they are
    assert curves.window_means(log.head(501), ["loss"])[1] == 2
    assert means["loss"].iloc[0] == 1.0 and means["loss"].iloc[-1] == 1233.0  # 1233 alone
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps({"step": 0, "stage": 1, "loss": 0.5}) + "\n{\"step\": 1, \"lo")
    with pytest.raises(ValueError, match="log.jsonl: line 2 is not a JSON record"):
        curves.read_log(path)
    assert curves.loss_terms(pd.DataFrame([{"step": 0, "stage": 1, "loss": 0.5}])) == ["loss"]


@pytest.mark.skipif(not (ROOT / "reports" / "demo" / "paired.csv").is_file(),
                    reason="the demo report is not built here (snakemake --cores 2 "
                    "reports/demo.html)")
@pytest.mark.parametrize("method,bucket,metric", [("pconv", "(0.1,0.2]", "l1"),
                                                  ("glcic", "all", "psnr")])
def test_the_demo_reports_agreement_cells_recomputed(method, bucket, metric):
    table = pd.read_csv(ROOT / "reports" / "demo" / "paired.csv", dtype={"bucket": str})
    row = cell(table, mask_set="demo_irregular", comparison="agreement", bucket=bucket,
               metric=metric, a=f"{method} / paddle / retrained")
    expected = recompute(ROOT / "results" / "score" / "demo", "demo_irregular", row.a, row.b,
                         bucket, metric, 0, 1000)
    assert (row["mean"], row.ci_low, row.ci_high) == pytest.approx(expected, rel=1e-9)
