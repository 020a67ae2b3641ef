"""st.optimize against torch eager fp32 and against the best uniform prune ratio, measured in one run.

For each model (LeNet-5 on MNIST; resnet_cifar-20 on MNIST; MobileNetV2 on photos with a fidelity floor:
``optimize_images``): train the original on the first training
rows (cached in ``$SLIMTORCH_BENCH_CACHE``, default ``~/.cache/slimtorch-bench``: a trained original is
reused by later runs; the last 5,000 training rows
validate the search and are never trained on; the search's recovery trains on the first rows the original
saw (4,000 for resnet20); the 10,000 test images only check the budget), then
- ``objective="latency"``: the searched model's speedup over the original in torch eager fp32 at batch 64,
  the search's wall and CPU seconds beside it (the target: found in <= 10 CPU-minutes),
- uniform ChannelPrune ratios (``UNIFORM``, mildest first, until two fail) with the same recovery (BN
  re-estimate + 1 epoch of distillation on the same rows), each also in int8 (the search's int8 step:
  per-layer fp32 fallback, fastest int8 engine) where it keeps the budget: the fastest of them that keeps
  the same test budget is "the best uniform",
- ``objective="size"``: bytes on disk against the smallest uniform model (fp32 and int8) within the budget,
and one final interleaved timing of all of them at batch 64 and at batch 1 (median of 40 / 80 rounds, each
model on its fastest backend of torch eager / ONNX Runtime fp32 / ONNX Runtime fp32 with the batch-as-channels
first convolution; IQR/median spread kept, rounds over 25% flagged as unstable). Threads: 1
(``OMP_NUM_THREADS=1``, torch and ORT).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/optimize.py [--models lenet5,resnet20,mobilenet_v2] [--quick]``;
writes ``benchmarks/results/optimize.json`` (merged per model).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import json
import os
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import torch

import slimtorch as st
from slimtorch.bench.latency import MAX_SPREAD, compare_timings
from slimtorch.bench.machine import machine_load
from slimtorch.data.arrays import ArrayDataset

sys.path.insert(0, str(Path(__file__).parent))
from optimize_images import IMAGES, run_images  # noqa: E402
from results_file import write_section  # noqa: E402

opt = importlib.import_module("slimtorch.search.optimize")
latency_table = importlib.import_module("slimtorch.search.latency_table")
int8_step = importlib.import_module("slimtorch.search.int8")
share_step = importlib.import_module("slimtorch.search.share")
score_mod = importlib.import_module("slimtorch.search.score")
BACKENDS = latency_table.BACKENDS
OUT = Path(__file__).parent / "results" / "optimize.json"
# name -> (zoo spec, baseline epochs, training rows of the original, rows the search's recovery trains on)
MODELS = {"lenet5": ({"name": "lenet5"}, 3, None, None),
          "resnet20": ({"name": "resnet_cifar", "depth": 20, "in_channels": 1}, 3, 16000, 4000)}
UNIFORM = (0.125, 0.25, 0.5, 0.625, 0.75, 0.875)
TRAIN = dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, schedule="cosine", warmup_epochs=0.2)
BATCH, DROP, VAL = 64, 0.5, 5000
SEARCH_VAL = {}  # validation rows of the search where not VAL (2,500 for resnet20 left its margin at ~0.3 points)


def cache_dir() -> Path:
    return Path(os.environ.get("SLIMTORCH_BENCH_CACHE", Path.home() / ".cache" / "slimtorch-bench"))


def trained(key: str, spec: dict, fit_data: ArrayDataset, cfg) -> tuple[torch.nn.Module, float]:
    """The original trained on ``fit_data`` with ``cfg``, from the cache when the same (model, rows, settings,
    torch) trained before; ``(model, training seconds)`` (0 when cached)."""
    h = hashlib.sha256(json.dumps([spec, cfg.to_dict(), torch.__version__], sort_keys=True).encode())
    h.update(fit_data.x.numpy().tobytes())
    h.update(fit_data.y.numpy().tobytes())
    where = cache_dir() / f"{key}-{h.hexdigest()[:16]}"
    if (where / "model.json").is_file():
        return st.load(where).eval(), 0.0
    torch.manual_seed(cfg.seed)
    model = st.models.build(spec["name"], **{k: v for k, v in spec.items() if k != "name"})
    t0 = time.perf_counter()
    st.fit(model, fit_data, cfg)
    st.save(model.eval(), where)
    return model, time.perf_counter() - t0


def uniform(model, fit_data, val, test, finish, ratio):
    """The demo's recipe at one ratio: ChannelPrune(ratio) everywhere, then the same recovery as the search."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruned = st.prune(copy.deepcopy(model), st.ChannelPrune(ratio=ratio), example_inputs=fit_data.x[:1])
    pruned = finish(pruned)
    return pruned, _acc(pruned, val), _acc(pruned, test)


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


def search_data(key: str, quick: bool):
    """``(original's training rows, the search's train = recovery rows + validation rows, test, epochs)``: the
    recovery rows are the first rows the original trained on; the last ``VAL`` training rows validate."""
    spec, epochs, subset, search_rows = MODELS[key]
    full, test = st.data.load("mnist", normalize=True, flatten=False, seed=0)  # what a recipe's data: loads
    if quick:
        subset, search_rows, epochs = 4000, 2000, 1
    rows = subset or len(full) - VAL
    base_fit = ArrayDataset(full.x[:rows], full.y[:rows], full.name)
    n = search_rows or rows
    v = SEARCH_VAL.get(key, VAL)  # the last v rows (never trained on: the original's rows end VAL rows earlier)
    train = ArrayDataset(torch.cat([full.x[:n], full.x[-v:]]), torch.cat([full.y[:n], full.y[-v:]]), full.name)
    return base_fit, train, test, epochs


def sweep_uniform(model, fit_data, val, test, finish, base_val: float, base_test: float, recovery) -> dict:
    """Uniform ratios mildest first until two miss the test budget; the two most pruned that keep it also in
    int8 (the search's int8 step), kept when the int8 model keeps the budget too (val and test, as the search's
    int8 step is judged), and the most pruned that keeps it weight-shared at 5 bits + packed (the size objective's
    step, same fine-tuning). name -> (model, val, test, meets)."""
    out, misses = {}, 0
    for ratio in UNIFORM:
        m, v, t = uniform(model, fit_data, val, test, finish, ratio)
        out[f"uniform{ratio}"] = (m, v, t, t >= base_test - DROP)
        print(f"uniform {ratio}: val {v:.2f} test {t:.2f} ({'keeps' if out[f'uniform{ratio}'][3] else 'misses'} "
              "the budget)", flush=True)
        misses += t < base_test - DROP
        if misses == 2:
            break
    fp32_ok = [n for n, u in out.items() if u[3]]
    for name in fp32_ok[-2:]:
        try:
            q = int8_step.quantize_candidate(out[name][0], fit_data, DROP, BATCH)
        except (ValueError, RuntimeError, TypeError) as err:
            print(f"{name} int8 not possible: {err}", flush=True)
            continue
        qv, qt = _acc(q, val), _acc(q, test)
        print(f"{name} int8 ({q.backend}): val {qv:.2f} test {qt:.2f}", flush=True)
        out[f"{name}-int8"] = (q, qv, qt, qt >= base_test - DROP and qv >= base_val - DROP)
    for name in fp32_ok[-1:]:
        owner = SimpleNamespace(baseline=SimpleNamespace(model=model), trials=[])
        fp32 = SimpleNamespace(model=out[name][0], keep=(), index=0, epochs=None)
        x = fit_data.x[:BATCH].contiguous()
        sh = share_step.share_trial(owner, fp32, fit_data, recovery, score_mod.Scorer(val, model), x, 5).model
        sv, stt = _acc(sh, val), _acc(sh, test)
        print(f"{name} shared 5 bits + packed: val {sv:.2f} test {stt:.2f}", flush=True)
        out[f"{name}-shared5"] = (sh, sv, stt, stt >= base_test - DROP and sv >= base_val - DROP)
    return out


def _acc(m, d) -> float:
    return 100 * st.bench.evaluate(m, d)["accuracy"]


def run_model(key: str, minutes: float, quick: bool, size_minutes: float) -> dict:
    t_all = time.perf_counter()
    spec = MODELS[key][0]
    base_fit, train, test, epochs = search_data(key, quick)
    cfg = st.TrainConfig(epochs=epochs, quiet=True, **TRAIN)
    model, train_s = trained(key, spec, base_fit, cfg)
    val_rows = SEARCH_VAL.get(key, VAL)
    fit_data, val = opt.split(train, val_rows)
    recovery = cfg.replace(lr=0.01, epochs=1)
    common = dict(batch_size=BATCH, max_accuracy_drop=DROP, recovery_epochs=1, train=recovery, val_rows=val_rows,
                  log=lambda m: print(f"[{key}] {m}", flush=True))
    runs = {}
    for objective, budget in (("latency", minutes), ("size", size_minutes)):
        t0, c0 = time.perf_counter(), time.process_time()
        res = opt.optimize(model, (train, test), objective=objective, budget_minutes=budget, **common)
        runs[objective] = (res, time.perf_counter() - t0, time.process_time() - c0, budget)
        print(res.summary(), flush=True)
    finish = opt._finisher(model, fit_data, recovery, 1, True)
    base_val, base_test = runs["latency"][0].baseline.val, runs["latency"][0].baseline.test
    uniforms = sweep_uniform(model, fit_data, val, test, finish, base_val, base_test, recovery)
    models = {o: runs[o][0].best for o in ("latency", "size")}
    models.update({name: u[0] for name, u in uniforms.items()})
    timed = {n: m for n, m in models.items() if not n.endswith("-shared5")}  # same shapes as its fp32 model
    x = fit_data.x[torch.arange(BATCH) % len(fit_data)].contiguous()
    load_before = machine_load().describe()
    timing = {b: final_timing(timed, model, x[:b].contiguous(), 40 if b > 1 else 80) for b in (BATCH, 1)}
    rows = timing[BATCH]["models"]
    size = {name: st.bench.saved_bytes(m) for name, m in models.items()}
    size["original"] = st.bench.saved_bytes(model)
    ok = [name for name, u in uniforms.items() if u[3]]
    best_uniform = min((n for n in ok if n in rows), key=lambda n: rows[n]["ms"]) if ok else None
    int8_ok = [n for n in ok if n.endswith("-int8")]
    smallest_uniform_int8 = min(int8_ok, key=lambda n: size[n]) if int8_ok else None
    smallest_uniform = min(ok, key=lambda n: size[n]) if ok else None
    out = {"model": key, "threads": torch.get_num_threads(), "batch": BATCH, "max_drop": DROP,
           "original_train_rows": len(base_fit), "original_epochs": epochs, "search_train_rows": len(fit_data),
           "val_rows": val_rows, "baseline_train_s": round(train_s, 1) or "cached",
           "load": {"before_final_timing": load_before, "after": machine_load().describe()},
           "original": {"test": base_test, "eager_ms": timing[BATCH]["baseline_ms"], "bytes": size["original"]},
           "timing": {str(b): t for b, t in timing.items()}, "bytes": size,
           "uniform": {name: {"val": v, "test": t, "meets_budget": ok} for name, (_, v, t, ok) in uniforms.items()},
           "best_uniform": best_uniform, "smallest_uniform": smallest_uniform,
           "smallest_uniform_int8": smallest_uniform_int8,
           "seconds_total": round(time.perf_counter() - t_all, 1)}
    for objective, (res, secs, cpu, budget) in runs.items():
        out[objective] = {**res.to_dict(), "budget_minutes": budget, "search_seconds": round(secs, 1),
                          "search_cpu_seconds": round(cpu, 1), "test": res.chosen.test}
        out[f"{objective}_test_kept"] = res.test_kept  # the budget on test rows the search never read
    out["speedup_vs_eager"] = rows["latency"]["speedup"]
    out["speedup_vs_eager_batch1"] = timing[1]["models"]["latency"]["speedup"]
    if best_uniform is not None:
        u, lat = rows[best_uniform], rows["latency"]
        out["uniform_speedup_vs_eager"] = u["speedup"]
        out["speedup_vs_best_uniform"] = u["ms"] / lat["ms"]  # ratio of medians, same round-robin
        out["speedup_vs_best_uniform_min_rounds"] = u["min_ms"] / lat["min_ms"]  # least disturbed rounds
        out["spread"] = {"latency": lat["spread"], best_uniform: u["spread"]}
    if smallest_uniform is not None:
        out["size_vs_smallest_uniform"] = size[smallest_uniform] / size["size"]
    if smallest_uniform_int8 is not None:  # the demo's recipe: uniform ratio + int8
        out["size_vs_smallest_uniform_int8"] = size[smallest_uniform_int8] / size["size"]
    keys = ("speedup_vs_eager", "speedup_vs_eager_batch1", "uniform_speedup_vs_eager", "best_uniform",
            "speedup_vs_best_uniform", "speedup_vs_best_uniform_min_rounds", "spread", "smallest_uniform",
            "size_vs_smallest_uniform", "smallest_uniform_int8", "size_vs_smallest_uniform_int8", "latency_test_kept",
            "size_test_kept")
    print(json.dumps({k: out.get(k) for k in keys}, indent=1), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="lenet5,resnet20")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--size-minutes", type=float, default=6.0, help="budget of the objective=size search")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--retime", metavar="DIR", help="only time DIR/model (written by slimtorch optimize) against "
                                                    "DIR/original again, 3 x more rounds (a quieter moment)")
    args = ap.parse_args()
    if args.retime:
        _merge(f"retime:{Path(args.retime).name}", retime(Path(args.retime)))
        return
    for key in args.models.split(","):
        if key in IMAGES:  # an ImageNet model on the bundled photos, a fidelity floor (optimize_images)
            result = run_images(key, args.minutes, args.quick, final_timing)
        elif key in MODELS:
            result = run_model(key, args.minutes, args.quick, args.size_minutes)
        else:
            ap.error(f"--models: got {key!r}; allowed: {', '.join([*MODELS, *IMAGES])}")
        _merge(key + ("-quick" if args.quick else ""), result)


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
