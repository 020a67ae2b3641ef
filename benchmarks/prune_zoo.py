"""Pruning zoo benchmark: does ChannelPrune hold up on architectures users bring?

Every model of the zoo (``tests/zoo/zoo_models.py``: tiny random-weight ``transformers`` models,
our zoo, the hand-written op families) is pruned at ratio 0.5 by slimtorch and, in the same run,
by the peer torch-pruning 1.6.1 (``MetaPruner(GroupMagnitudeImportance(p=2), pruning_ratio=0.5,
ignored_layers=[classifier])``). Each result is checked on two example inputs of different shapes:
slimtorch's against the masked original (the test's own oracle), the peer's for a forward that runs
and keeps the output shape (it has no masked reference). Statuses: ok, crash (prune or forward
fails), mismatch (runs but differs from the masked original), shape (peer: output shape changed),
timeout (peer: no result within 60 s).

Also measured: the time verification adds to ``st.prune`` on our mobilenet_v2 (full width, a
2x3x32x32 batch): ``prune_channels`` (trace, select, verify, apply) against ``plan_channels`` +
``apply_plan`` (the same without verification), interleaved, median of repeats, and the per-repeat
ratios' median and quartiles in wall and CPU time, with the machine's load average. What verification
costs is one forward of the masked original and one of the pruned model, plus a few milliseconds.

Usage: ``python benchmarks/prune_zoo.py [--threads 1] [--only SUBSTRING ...] [--repeats 7] [--sections zoo,overhead]``.
Prints a table and writes benchmarks/results/prune_zoo.json.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import signal
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "zoo"))
from zoo_models import _outputs, prune_and_check, zoo  # noqa: E402

import slimtorch as st  # noqa: E402
from slimtorch.bench import count_params, threads_note  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "prune_zoo.json"
PEER_LIMIT_S = 60
try:
    import torch_pruning as tp
except ImportError:  # the bench extra installs it
    tp = None


def _timeout(signum, frame):
    raise TimeoutError


def peer(model: nn.Module, xs: list, classifier: str) -> dict:
    """torch-pruning's generic MetaPruner at 0.5 (classifier ignored); forward on both inputs."""
    if tp is None:
        return {"status": "not installed", "fraction": 0.0, "seconds": 0.0, "detail": ""}
    before = count_params(model)
    shapes = [[o.shape for o in _outputs(model, x)] for x in xs]
    start = time.perf_counter()
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(PEER_LIMIT_S)  # its dependency graph search does not finish on some models (FocalNet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pruner = tp.pruner.MetaPruner(model, xs[0], importance=tp.importance.GroupMagnitudeImportance(p=2),
                                          pruning_ratio=0.5, ignored_layers=[model.get_submodule(classifier)])
            pruner.step()
    except TimeoutError:
        return {"status": "timeout", "fraction": 0.0, "seconds": time.perf_counter() - start,
                "detail": f"prune: no result after {PEER_LIMIT_S} s"}
    except Exception as err:
        return {"status": "crash", "fraction": 0.0, "seconds": time.perf_counter() - start,
                "detail": f"prune: {type(err).__name__}: {err}"[:200]}
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - start
    out = {"status": "ok", "fraction": 1 - count_params(model) / before, "seconds": seconds, "detail": ""}
    for i, x in enumerate(xs):
        try:
            got = [o.shape for o in _outputs(model, x)]
        except Exception as err:
            return {**out, "status": "crash", "detail": f"input #{i}: {type(err).__name__}: {err}"[:200]}
        if got != shapes[i]:
            return {**out, "status": "shape", "detail": f"input #{i}: output shapes {got} instead of {shapes[i]}"}
    return out


def zoo_rows(only: list[str]) -> list[dict]:
    rows = []
    for name, build in zoo().items():
        if only and not any(o in name for o in only):
            continue
        model, xs, classifier = build()
        ours = prune_and_check(copy.deepcopy(model), xs)
        theirs = peer(copy.deepcopy(model), xs, classifier)
        rows.append({"model": name, "params": count_params(model), "inputs": [list(x.shape) for x in xs],
                     "slimtorch": ours, "torch_pruning": theirs})
        print(f"{name:28s} slimtorch {ours['status']:8s} {ours['fraction']:6.1%}   "
              f"torch-pruning {theirs['status']:8s} {theirs['fraction']:6.1%}", flush=True)
    return rows


def verification_overhead(repeats: int) -> dict:
    """Seconds of verified ``st.prune`` vs the same prune without verification (interleaved, paired).

    Each repeat times both, in alternating order, each on a fresh copy after a ``gc.collect()`` (a
    collection falling inside one timing would be noise, not verification). Reported: medians of each,
    the ratio of medians, and the median and quartiles of the per-repeat ratios, in wall time and in
    process CPU time (less stretched by other processes); the load average is recorded because other
    processes on a shared machine stretch both timings unevenly.
    """
    from slimtorch.pruning import ChannelPrune, apply_plan, plan_channels

    dense = st.models.build("mobilenet_v2").eval()
    x, cfg = torch.randn(2, 3, 32, 32), ChannelPrune(ratio=0.5)
    times: dict[str, list[float]] = {"unverified": [], "verified": []}
    cpu: dict[str, list[float]] = {"unverified": [], "verified": []}
    warnings.simplefilter("ignore")
    load_before = os.getloadavg()[0]
    for i in range(repeats + 1):
        for kind in ("unverified", "verified") if i % 2 else ("verified", "unverified"):
            model = copy.deepcopy(dense)
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            if kind == "verified":
                st.prune(model, cfg, example_inputs=x)
            else:
                apply_plan(model, plan_channels(model, cfg, x))
            if i:  # the first round warms up
                times[kind].append(time.perf_counter() - start)
                cpu[kind].append(time.process_time() - start_cpu)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"model": "mobilenet_v2 (width 1.0, 2x3x32x32)", "median_s": {k: round(v, 4) for k, v in med.items()},
            "iqr_s": {k: [round(q, 4) for q in statistics.quantiles(v, n=4)[::2]] for k, v in times.items()},
            "ratio": round(med["verified"] / med["unverified"], 3), **_paired(times, ""), **_paired(cpu, "cpu_"),
            "repeats": repeats, "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def _paired(times: dict[str, list[float]], prefix: str) -> dict:
    """Median and quartiles of the per-repeat ratios verified / unverified."""
    q1, q2, q3 = statistics.quantiles([v / u for v, u in zip(times["verified"], times["unverified"])], n=4)
    return {f"{prefix}paired_ratio_median": round(q2, 3), f"{prefix}paired_ratio_iqr": [round(q1, 3), round(q3, 3)]}


def summary(rows: list[dict]) -> dict:
    out = {}
    for who in ("slimtorch", "torch_pruning"):
        res = [r[who] for r in rows]
        out[who] = {"models": len(res), "ok": sum(r["status"] == "ok" for r in res),
                    "crash": sum(r["status"] == "crash" for r in res),
                    "timeout": sum(r["status"] == "timeout" for r in res),
                    "mismatch_or_shape": sum(r["status"] in ("mismatch", "shape") for r in res),
                    "lose_20pct": sum(r["status"] == "ok" and r["fraction"] >= 0.2 for r in res),
                    "median_fraction": round(statistics.median([r["fraction"] for r in res]), 3) if res else 0}
    return out


def table(rows: list[dict]) -> str:
    lines = ["| model | params | slimtorch | removed | s | torch-pruning | removed |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["slimtorch"], r["torch_pruning"]
        lines.append(f"| {r['model']} | {r['params']:,} | {a['status']} | {a['fraction']:.1%} | {a['seconds']:.2f} "
                     f"| {b['status']} | {b['fraction']:.1%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sections", default="zoo,overhead", help="zoo, overhead (a section not run keeps its "
                        "last numbers in the JSON)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    out.update({"threads": threads_note(), "torch_pruning": getattr(tp, "__version__", None)})
    if "zoo" in args.sections:
        rows = zoo_rows(args.only)
        print()
        print(table(rows))
        out.update({"summary": summary(rows), "rows": rows})
        print("\n" + json.dumps(out["summary"], indent=1))
    if "overhead" in args.sections:
        out["verification_overhead"] = overhead = verification_overhead(args.repeats)
        print(f"\nverification adds {overhead['ratio'] - 1:.1%} to st.prune on {overhead['model']} "
              f"(medians {overhead['median_s']}; per-repeat ratio median {overhead['paired_ratio_median']}, "
              f"IQR {overhead['paired_ratio_iqr']}; CPU time: {overhead['cpu_paired_ratio_median']}, "
              f"IQR {overhead['cpu_paired_ratio_iqr']}; load {overhead['load_average_1min']}; {threads_note()})")
    if not args.only:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=1))
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
