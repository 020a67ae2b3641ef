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
