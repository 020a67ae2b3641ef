"""Reports: table contents, Pareto front, self-contained HTML with embedded PNG plots."""

import base64
import re

import pytest

from slimtorch.bench import report


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
                 "speedup": {"1": 1.0, "64": 1.0}, "size_ratio": 1.0},
                {"label": "channel_prune", "accuracy": 0.985, "params": 495, "nonzero_params": 400,
                 "bytes_on_disk": 4000, "macs": 2500, "per_layer": pruned,
                 "kept": [{"name": "conv1", "kept": 3, "total": 6, "kept_fraction": 0.5}],
                 "best": {"1": {"backend": "onnxruntime", "ms": 0.1}, "64": {"backend": "onnxruntime", "ms": 1.0}},
                 "speedup": {"1": 2.0, "64": 4.0}, "size_ratio": 2.0},
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
    assert report._frontier(points) == front


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One report written for the module (drawing plots is the slow part)."""
    out = tmp_path_factory.mktemp("report")
    return out, report.write_report(out, metrics())


def test_every_plot_is_a_png(written):
    out, paths = written
    assert {k for k in paths if k not in ("markdown", "html")} == {"training", "pareto", "layers", "sensitivity"}
    for name in ("training", "pareto", "layers", "sensitivity"):
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
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert base64.b64decode(srcs[0].split(",", 1)[1]).startswith(b"\x89PNG")
    assert not re.search(r"(href|src)=['\"]?(https?:|//|file:)", page)
    assert "unit &lt;report&gt;" in page  # titles are escaped
    md = (tmp_path / "report.md").read_text()
    for name in ("training", "pareto", "layers", "sensitivity"):
        assert f"](plots/{name}.png)" in md
        assert (tmp_path / "plots" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "| int8 | 98.40% |" in md
    assert "- 5.00x faster at batch 64" in md and "- 8.00x smaller on disk" in md
    assert "- -0.60 points accuracy change" in md
    assert paths["html"] == tmp_path / "report.html"
