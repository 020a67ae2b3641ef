"""Reports: table contents, Pareto front, self-contained HTML with embedded PNG plots."""

import base64
import re
import sys
from pathlib import Path

import pytest

from slimtorch.bench import report, size_report

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
import check_report_html  # noqa: E402  (a script, not a package)

PLOTS = ("training", "pareto", "layers", "sensitivity", "sizes")


def metrics():
    layers = [{"name": "conv1", "type": "Conv2d", "shape": [6, 1, 5, 5], "params": 150, "sparsity": 0.0},
              {"name": "fc", "type": "Linear", "shape": [10, 84], "params": 840, "sparsity": 0.0}]
    pruned = [{"name": "conv1", "type": "Conv2d", "shape": [3, 1, 5, 5], "params": 75, "sparsity": 0.2},
              {"name": "fc", "type": "Linear", "shape": [10, 42], "params": 420, "sparsity": 0.5}]
    return {
        "title": "unit <report>", "baseline": "train", "final_stage": "int8",
        "recipe": {"model": {"name": "lenet5"}},
        "stages": [
            {"label": "train", "kind": "train", "seconds": 3.0, "skipped": False, "info": {"epochs": 2},
             "history": {"loss": [1.0, 0.5], "accuracy": [0.7, 0.9], "eval_accuracy": [0.8, None], "lr": [0.1, 0.05]}},
            {"label": "channel_prune", "kind": "prune", "seconds": 0.2, "skipped": True, "info": {}, "history": None},
            {"label": "int8", "kind": "quantize", "seconds": 0.3, "skipped": False, "info": {"backend": "torch"},
             "history": None},
        ],
        "measure": {
            "batch_sizes": [1, 64], "note": "Latency: median of 3 rounds",
            "rows": [
                {"label": "train", "accuracy": 0.99, "params": 990, "nonzero_params": 990, "bytes_on_disk": 8000,
                 "macs": 5000, "per_layer": layers, "kept": [],
                 "best": {"1": {"backend": "eager", "ms": 0.2}, "64": {"backend": "eager", "ms": 4.0}},
                 "speedup": {"1": 1.0, "64": 1.0}, "size_ratio": 1.0,
                 "size_breakdown": {"weights": 7000, "masks": 0, "codebooks": 0, "biases_other": 400, "metadata": 600}},
                {"label": "channel_prune", "accuracy": 0.985, "params": 495, "nonzero_params": 400,
                 "bytes_on_disk": 4000, "macs": 2500, "per_layer": pruned,
                 "kept": [{"name": "conv1", "kept": 3, "total": 6, "kept_fraction": 0.5}],
                 "best": {"1": {"backend": "onnxruntime", "ms": 0.1}, "64": {"backend": "onnxruntime", "ms": 1.0}},
                 "speedup": {"1": 2.0, "64": 4.0}, "size_ratio": 2.0,
                 "size_breakdown": {"weights": 0, "masks": 0, "codebooks": 300, "indices": 1500, "gaps": 1200,
                                    "biases_other": 400, "metadata": 600}},
                {"label": "int8", "accuracy": 0.984, "params": 495, "nonzero_params": 400, "bytes_on_disk": 1000,
                 "macs": None, "per_layer": [], "kept": [],
                 "best": {"1": {"backend": "torch", "ms": 0.05}, "64": {"backend": "torch", "ms": 0.8}},
                 "speedup": {"1": 4.0, "64": 5.0}, "size_ratio": 8.0},
            ],
            "sensitivity": {"stage": "int8", "metric": "accuracy drop (points)",
                            "layers": [{"name": "conv1", "value": 0.3}, {"name": "fc", "value": 0.1}]},
        },
        "final": {"label": "int8", "speedup": {"1": 4.0, "64": 5.0}, "size_ratio": 8.0, "accuracy_drop": 0.6},
    }


def test_console_table_has_every_stage_and_the_ratios():
    text = report.console_table(metrics())
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["stage", "test", "acc"]
    body = {line.split()[0]: line for line in lines[2:5]}
    assert set(body) == {"train", "channel_prune", "int8"}
    assert "98.40%" in body["int8"] and "5.00x" in body["int8"] and "8.00x" in body["int8"]
    assert "1,000" in body["int8"] and "0.800 (torch)" in body["int8"]
    assert lines[-1] == "Latency: median of 3 rounds"


@pytest.mark.parametrize("points, front", [
    ([(1, 90), (2, 95), (3, 94), (0.5, 80)], [(0.5, 80), (1, 90), (2, 95)]),
    ([(1, 90), (1, 91)], [(1, 91)]),
    ([(5, 99)], [(5, 99)]),
])
def test_pareto_front(points, front):
    assert report.frontier(points) == front


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One report written for the module (drawing plots is the slow part)."""
    out = tmp_path_factory.mktemp("report")
    return out, report.write_report(out, metrics())


def test_every_plot_is_a_png(written):
    out, paths = written
    assert {k for k in paths if k not in ("markdown", "html")} == set(PLOTS)
    for name in PLOTS:
        assert (out / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_plots_skip_what_was_not_measured():
    m = metrics()
    m["measure"]["sensitivity"] = None
    for s in m["stages"]:
        s["history"] = None
    assert report.plot_training(m) is None and report.plot_sensitivity(m) is None
    assert report.make_plots({"stages": []}) == {}


def test_written_report_is_self_contained(written):
    tmp_path, paths = written
    page = (tmp_path / "report.html").read_text()
    # every image is an embedded PNG data URI; nothing is fetched from elsewhere
    srcs = re.findall(r"src='([^']*)'", page)
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "alt='sizes'" in page and "<h2>Size breakdown (bytes)</h2>" in page
    assert check_report_html.html_problems(page, expect=PLOTS) == []
    assert base64.b64decode(srcs[0].split(",", 1)[1]).startswith(b"\x89PNG")
    assert not re.search(r"(href|src)=['\"]?(https?:|//|file:)", page)
    assert "unit &lt;report&gt;" in page  # titles are escaped
    md = (tmp_path / "report.md").read_text()
    for name in PLOTS:
        assert f"](plots/{name}.png)" in md
        assert (tmp_path / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "| int8 | 98.40% |" in md
    assert "- 5.00x faster at batch 64" in md and "- 8.00x smaller on disk" in md
    assert "- -0.60 points accuracy change" in md
    assert paths["html"] == tmp_path / "report.html"


def test_size_breakdown_table_and_bars_only_for_stages_that_recorded_one():
    m = metrics()
    header, rows = size_report.size_table(m)
    # parts nobody has bytes in (masks) are left out; the known parts keep their order
    assert header == ["stage", "bytes on disk", "weights / values", "codebooks", "cluster indices", "sparse gaps",
                      "biases, BN, scales", "file headers + model.json"]
    assert [r[0] for r in rows] == ["train", "channel_prune"]  # int8 recorded none
    assert rows[1][1] == "4,000" and rows[0][1] == "8,000"  # each row adds up to the stage's bytes on disk
    m["measure"]["rows"][1]["size_breakdown"] = None
    m["measure"]["rows"][0]["size_breakdown"] = None
    assert size_report.size_table(m)[1] == [] and "sizes" not in report.make_plots(m)


def test_html_check_names_a_missing_plot():
    page = "<img alt='pareto' src='data:image/png;base64,AAAA'>"
    assert check_report_html.html_problems(page) == []
    assert check_report_html.html_problems(page, expect=("pareto", "sizes")) == ["plot missing: sizes"]
