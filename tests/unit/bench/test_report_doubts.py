"""A batch size whose timing stayed doubtful prints its flags, never a headline ratio."""

from slimtorch.bench import report


def _metrics(doubtful):
    rows = [{"label": "base", "accuracy": 0.9, "params": 10, "nonzero_params": 10, "bytes_on_disk": 100, "macs": 5,
             "best": {"1": {"backend": "eager", "ms": 2.0}, "8": {"backend": "eager", "ms": 9.0}},
             "latency": {"eager": {"1": {"median": 2.0, "min": 1.9, "iqr": 0.125, "spread": 0.06}}},
             "speedup": {"1": 1.0, "8": 1.0}, "size_ratio": 1.0},
            {"label": "small", "accuracy": 0.9, "params": 5, "nonzero_params": 5, "bytes_on_disk": 50, "macs": 2,
             "best": {"1": {"backend": "onnxruntime", "ms": 0.5}, "8": {"backend": "onnxruntime", "ms": 3.0}},
             "speedup": {"1": 4.0, "8": 3.0}, "size_ratio": 2.0}]
    return {"title": "t", "baseline": "base", "final_stage": "small", "stages": [],
            "measure": {"batch_sizes": [1, 8], "note": "Latency: ...", "rows": rows, "doubtful": doubtful},
            "final": {"label": "small", "speedup": {"1": 4.0, "8": 3.0}, "size_ratio": 2.0}}


def test_doubtful_batch_shows_the_flag_instead_of_the_ratio():
    m = _metrics({"1": ["machine oversubscribed: 2 CPUs available, 3 busy with other processes"]})
    text = report.console_table(m)
    small = next(line for line in text.splitlines() if line.startswith("small"))
    assert "4.00x" not in small and "doubtful" in small and "3.00x" in small  # batch 8 was fine
    assert text.splitlines()[-1].startswith("batch 1: no speedup claimed, timing doubtful after two measurements "
                                            "(machine oversubscribed")
    summary = "\n".join(report._summary_lines(m))
    assert "4.00x faster at batch 1" not in summary and "speed at batch 1: not claimed" in summary
    assert "3.00x faster at batch 8" in summary


def test_trusted_timing_shows_ratio_and_iqr():
    text = report.console_table(_metrics({}))
    base = next(line for line in text.splitlines() if line.startswith("base"))
    assert "2.000 ±0.125 (eager)" in base
    assert "doubtful" not in text and "4.00x" in text


def _bench(doubtful):
    """What ``measure_models`` returns for one saved model (``slimtorch bench``)."""
    row = {"label": "m", "accuracy": None, "params": 10, "nonzero_params": 10, "bytes_on_disk": 100, "macs": 5,
           "latency_ms": {"eager": {"1": 2.0, "8": 9.0}, "onnxruntime": {"1": 0.5, "8": 3.0}},
           "latency": {"eager": {"1": {"median": 2.0, "min": 1.875, "iqr": 0.125, "spread": 0.06},
                                 "8": {"median": 9.0, "min": 8.5, "iqr": 0.25, "spread": 0.03}},
                       "onnxruntime": {"1": {"median": 0.5, "min": 0.25, "iqr": 0.375, "spread": 0.75},
                                       "8": {"median": 3.0, "min": 2.75, "iqr": 0.25, "spread": 0.08}}}}
    return {"batch_sizes": [1, 8], "rows": [row], "doubtful": doubtful,
            "note": "Latency: median (min, IQR) of 2 interleaved rounds per batch size, threads=1; speedup = ..."}


def test_bench_prints_dispersion_and_the_doubt_instead_of_the_ratio():
    from pathlib import Path

    from slimtorch.cli.bench import format_bench

    text = format_bench(Path("m"), _bench({"1": ["m onnxruntime: IQR/median 0.75 > 0.25"]}))
    ort = next(line for line in text.splitlines() if line.startswith("onnxruntime"))
    assert "0.500 ±0.375 (min 0.250)" in ort and "3.000 ±0.250 (min 2.750)" in ort
    assert "4.00x" not in ort and "doubtful" in ort and "3.00x" in ort  # 9.0 / 3.0 at batch 8, which was fine
    assert text.splitlines()[-1] == ("batch 1: no speedup claimed, timing doubtful after two measurements "
                                     "(m onnxruntime: IQR/median 0.75 > 0.25)")
    trusted = format_bench(Path("m"), _bench({}))
    assert "4.00x" in trusted and "doubtful" not in trusted
