"""st.optimize against torch eager fp32 and against the best uniform prune ratio, measured in one run.

For each model (LeNet-5 on MNIST; resnet_cifar-20 on MNIST): train the original on the first training
rows (the last 5,000 validate the search; the 10,000 test images only check the budget), then
- ``objective="latency"``: the searched model's speedup over the original in torch eager fp32 at batch 64,
- uniform ChannelPrune ratios 0.25 / 0.5 / 0.75 with the same recovery (BN re-estimate + 1 epoch of
  distillation): the best one that keeps the same test budget,
- ``objective="size"``: bytes on disk against that uniform model,
and one final interleaved timing of all of them at batch 64 and at batch 1 (median of 40 / 80 rounds, each
model on its fastest backend of torch eager / ONNX Runtime fp32 / ONNX Runtime fp32 with the batch-as-channels
first convolution; IQR/median spread kept, rounds over 25% flagged as unstable). Threads: 1
(``OMP_NUM_THREADS=1``, torch and ORT).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/optimize.py [--models lenet5,resnet20] [--quick]``;
writes ``benchmarks/results/optimize.json`` (merged per model).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import sys
import time
import warnings
from pathlib import Path

import torch

import slimtorch as st
from slimtorch.bench.latency import MAX_SPREAD, compare_timings
from slimtorch.data.arrays import ArrayDataset

sys.path.insert(0, str(Path(__file__).parent))
from results_file import write_section  # noqa: E402

opt = importlib.import_module("slimtorch.search.optimize")
latency_table = importlib.import_module("slimtorch.search.latency_table")
BACKENDS = latency_table.BACKENDS
OUT = Path(__file__).parent / "results" / "optimize.json"
MODELS = {"lenet5": ({"name": "lenet5"}, 3, None),  # name -> (zoo spec, baseline epochs, training rows used)
          "resnet20": ({"name": "resnet_cifar", "depth": 20, "in_channels": 1}, 1, 8000)}
TRAIN = dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, schedule="cosine", warmup_epochs=0.2)
BATCH, DROP, VAL = 64, 0.5, 5000


def uniform(model, fit_data, val, test, finish, ratio):
    """The demo's recipe at one ratio: ChannelPrune(ratio) everywhere, then the same recovery as the search."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = st.prune(copy.deepcopy(model), st.ChannelPrune(ratio=ratio), example_inputs=fit_data.x[:1])
    pruned = finish(pruned)
    acc = lambda m, d: 100 * st.bench.evaluate(m, d)["accuracy"]  # noqa: E731
    return pruned, acc(pruned, val), acc(pruned, test)


def final_timing(models: dict, baseline, x: torch.Tensor, repeats: int) -> dict:
    """Every model on every backend and the original in eager fp32, one interleaved round-robin at ``len(x)``:
    each model's fastest backend by median, its IQR/median spread, and its speedup over the original."""
    fns = {"original|eager": latency_table.runner(baseline, x, "eager")}
    for n, m in models.items():
        int8 = isinstance(getattr(m, "backend", None), str)  # a QuantizedModel runs on its own int8 engine
        for b in ("eager",) if int8 else BACKENDS:
            fns[f"{n}|{'int8-' + m.backend if int8 else b}"] = latency_table.runner(m, x, b)
    t = compare_timings(fns, repeats=repeats, warmup=3)
    base = t["original|eager"]
    rows = {}
    for name in models:
        mine = {k.partition("|")[2]: v for k, v in t.items() if k.partition("|")[0] == name}
        backend = min(mine, key=lambda b: mine[b].median)
        tm = mine[backend]
        rows[name] = {"backend": backend, "ms": 1e3 * tm.median, "spread": round(tm.spread, 3),
                      "speedup": base.median / tm.median, "all_ms": {b: 1e3 * v.median for b, v in mine.items()},
                      "min_ms": 1e3 * tm.min, "speedup_of_min": base.min / tm.min}  # least disturbed rounds
    unstable = [k for k, v in t.items() if v.spread > MAX_SPREAD]
    return {"batch": len(x), "rounds": repeats, "baseline_ms": 1e3 * base.median, "baseline_min_ms": 1e3 * base.min,
            "baseline_spread": round(base.spread, 3), "models": rows, "unstable": unstable}


def run_model(key: str, minutes: float, quick: bool) -> dict:
    spec, epochs, subset = MODELS[key]
    t_all = time.perf_counter()
    train, test = st.data.load("mnist", normalize=True, flatten=False, seed=0)  # what a recipe's data: loads
    if quick:
        subset = 4000
    if subset:
        train = ArrayDataset(torch.cat([train.x[:subset], train.x[-VAL:]]),
                             torch.cat([train.y[:subset], train.y[-VAL:]]), train.name)
    fit_data, val = opt.split(train, VAL)
    cfg = st.TrainConfig(epochs=1 if quick else epochs, quiet=True, **TRAIN)
    torch.manual_seed(cfg.seed)
    model = st.models.build(spec["name"], **{k: v for k, v in spec.items() if k != "name"})
    t0 = time.perf_counter()
    st.fit(model, fit_data, cfg)
    train_s = time.perf_counter() - t0
    model.eval()
    recovery = cfg.replace(lr=0.01)
    common = dict(batch_size=BATCH, max_accuracy_drop=DROP, budget_minutes=minutes, recovery_epochs=1,
                  train=recovery, val_rows=VAL, log=lambda m: print(f"[{key}] {m}", flush=True))
    runs = {}
    for objective in ("latency", "size"):
        t0 = time.perf_counter()
        res = opt.optimize(model, (train, test), objective=objective, **common)
        runs[objective] = (res, time.perf_counter() - t0)
        print(res.summary(), flush=True)
    finish = opt._finisher(model, fit_data, recovery, 1, True)
    base_test = runs["latency"][0].baseline.test
    uniforms = {}
    for ratio in (0.25, 0.5, 0.75):
        m, v, t = uniform(model, fit_data, val, test, finish, ratio)
        uniforms[ratio] = (m, v, t)
        print(f"[{key}] uniform {ratio}: val {v:.2f} test {t:.2f}", flush=True)
    ok = [r for r, (_, _, t) in uniforms.items() if t >= base_test - DROP]
    models = {"latency": runs["latency"][0].best, "size": runs["size"][0].best}
    models.update({f"uniform{r}": uniforms[r][0] for r in uniforms})
    x = fit_data.x[torch.arange(BATCH) % len(fit_data)].contiguous()
    timing = {b: final_timing(models, model, x[:b].contiguous(), 40 if b > 1 else 80) for b in (BATCH, 1)}
    best = {name: row["ms"] for name, row in timing[BATCH]["models"].items()}
    base_ms = timing[BATCH]["baseline_ms"]
    size = {name: st.bench.saved_bytes(m) for name, m in models.items()}
    size["original"] = st.bench.saved_bytes(model)
    best_uniform = min(ok, key=lambda r: best[f"uniform{r}"]) if ok else None
    out = {"model": key, "threads": torch.get_num_threads(), "batch": BATCH, "max_drop": DROP,
           "train_rows": len(fit_data), "val_rows": VAL, "baseline_train_s": round(train_s, 1),
           "original": {"test": base_test, "eager_ms": base_ms, "bytes": size["original"]},
           "timing": {str(b): t for b, t in timing.items()}, "best_backend_ms": best, "bytes": size,
           "uniform": {str(r): {"val": v, "test": t, "meets_budget": r in ok} for r, (_, v, t) in uniforms.items()},
           "best_uniform_ratio": best_uniform, "seconds_total": round(time.perf_counter() - t_all, 1)}
    for objective, (res, secs) in runs.items():
        out[objective] = {**res.to_dict(), "search_seconds": round(secs, 1), "test": res.chosen.test}
    out["speedup_vs_eager"] = base_ms / best["latency"]
    out["speedup_vs_eager_batch1"] = timing[1]["models"]["latency"]["speedup"]
    if best_uniform is not None:
        out["uniform_speedup_vs_eager"] = base_ms / best[f"uniform{best_uniform}"]
        out["speedup_vs_best_uniform"] = best[f"uniform{best_uniform}"] / best["latency"]
        out["size_vs_best_uniform"] = size[f"uniform{best_uniform}"] / size["size"]
    keys = ("speedup_vs_eager", "speedup_vs_eager_batch1", "uniform_speedup_vs_eager", "speedup_vs_best_uniform",
            "size_vs_best_uniform", "best_uniform_ratio")
    print(json.dumps({k: out.get(k) for k in keys}, indent=1), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet5,resnet20")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--retime", metavar="DIR", help="only time DIR/model (written by slimtorch optimize) against "
                                                    "DIR/original again, 3 x more rounds (a quieter moment)")
    args = ap.parse_args()
    if args.retime:
        _merge(f"retime:{Path(args.retime).name}", retime(Path(args.retime)))
        return
    for key in args.models.split(","):
        _merge(key + ("-quick" if args.quick else ""), run_model(key, args.minutes, args.quick))


def retime(run_dir: Path) -> dict:
    """The chosen model of a ``slimtorch optimize`` run against its original, batch 64 and 1, many rounds."""
    original, chosen = st.load(run_dir / "original"), st.load(run_dir / "model")
    x, _ = st.data.load("mnist", normalize=True, flatten=False, seed=0)
    x = x.x[:BATCH].contiguous()
    out = {"dir": str(run_dir), "threads": torch.get_num_threads(), "bytes": st.bench.saved_bytes(chosen),
           "original_bytes": st.bench.saved_bytes(original)}
    out["timing"] = {str(b): final_timing({"chosen": chosen}, original, x[:b].contiguous(), 120 if b > 1 else 300)
                     for b in (BATCH, 1)}
    print(json.dumps(out, indent=1, default=float), flush=True)
    return out


def _merge(key: str, result: dict) -> None:
    write_section(OUT, key, result, default=float)


if __name__ == "__main__":
    main()
