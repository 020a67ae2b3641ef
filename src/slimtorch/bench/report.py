"""Run reports: the console table, ``report.md`` and a self-contained ``report.html`` with plots.

Everything is built from the ``metrics.json`` dict that the pipeline writes, so a report can be
regenerated from a finished run. Plots use matplotlib's Agg canvas through ``Figure`` objects
(no pyplot global state, no display needed); the HTML embeds them as PNG data URIs.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from ..io import atomic_write
from . import size_report
from .fidelity import FIELDS
from .fidelity import text as fidelity_text

PLOTS = ("training", "pareto", "layers", "sensitivity", "sizes")


# --------------------------------------------------------------------------- tables


def _num(v: Any, spec: str = ",") -> str:
    return "-" if v is None else format(v, spec)


def _ratio(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _best(row: dict[str, Any], batch: str) -> str:
    """'median ±IQR (backend)' of the fastest backend at ``batch``."""
    best = (row.get("best") or {}).get(batch)
    if not best:
        return "-"
    iqr = ((row.get("latency") or {}).get(best["backend"]) or {}).get(batch, {}).get("iqr")
    spread = f" ±{iqr:.3f}" if iqr is not None else ""
    return f"{best['ms']:.3f}{spread} ({best['backend']})"


def _speedup(row: dict[str, Any], batch: str, doubtful: dict[str, list[str]]) -> str:
    """The ratio, or 'doubtful' when that batch's timing could not be trusted (its flags are printed)."""
    return "doubtful" if batch in doubtful else _ratio((row.get("speedup") or {}).get(batch))


def doubt_lines(metrics: dict[str, Any]) -> list[str]:
    """One line per batch size whose timing stayed doubtful after re-measuring: why, instead of a ratio."""
    doubtful = (metrics.get("measure") or {}).get("doubtful") or {}
    return [f"batch {b}: no speedup claimed, timing doubtful after two measurements ({'; '.join(flags)})"
            for b, flags in doubtful.items()]


def table_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the results table (one row per measured stage)."""
    meas = metrics.get("measure") or {}
    batches = [str(b) for b in meas.get("batch_sizes", [])]
    fid = [(k, label) for k, label in FIELDS if any((r.get("fidelity") or {}).get(k) is not None
                                                   for r in meas.get("rows", []))]
    header = ["stage", "test acc"] + [label for _, label in fid] + ["params", "nonzero", "bytes on disk", "MACs"]
    header += [f"ms @{b}" for b in batches] + [f"speedup @{b}" for b in batches] + ["size ratio"]
    rows = []
    for r in meas.get("rows", []):
        row = [r["label"], _pct(r.get("accuracy"))] + [fidelity_text(k, (r.get("fidelity") or {}).get(k))
                                                       for k, _ in fid]
        row += [_num(r.get("params")), _num(r.get("nonzero_params")), _num(r.get("bytes_on_disk")), _num(r.get("macs"))]
        row += [_best(r, b) for b in batches]
        row += [_speedup(r, b, meas.get("doubtful") or {}) for b in batches]
        row.append(_ratio(r.get("size_ratio")))
        rows.append(row)
    return header, rows


def console_table(metrics: dict[str, Any]) -> str:
    """The table printed at the end of a run: aligned plain text, latency as 'ms (backend)'."""
    header, rows = table_rows(metrics)
    if not rows:
        return "(no measurements)"
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(r, widths)))
             for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = (metrics.get("measure") or {}).get("note")
    return "\n".join(lines + ([note] if note else []) + doubt_lines(metrics))


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def stage_rows(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-stage run log (what ran, how long, what it decided)."""
    rows = []
    for s in metrics.get("stages", []):
        notes = ", ".join(f"{k}={v}" for k, v in (s.get("info") or {}).items()
                          if isinstance(v, (str, int, float, bool)))
        rows.append([s["label"], s.get("kind", ""), "skipped (unchanged)" if s.get("skipped") else "ran",
                     _num(s.get("seconds"), ".1f"), notes or "-"])
    return ["stage", "kind", "status", "seconds", "notes"], rows


# --------------------------------------------------------------------------- plots


def figure(ncols: int, width: float = 4.2, height: float = 3.2):
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state: safe in threads and headless

    fig = Figure(figsize=(width * ncols, height), layout="tight")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def plot_training(metrics: dict[str, Any]) -> bytes | None:
    """Loss, accuracy and learning rate per epoch, stages laid end to end, one colour per stage."""
    stages = [s for s in metrics.get("stages", []) if s.get("history") and s["history"].get("loss")]
    if not stages:
        return None
    fig, (ax_loss, ax_acc, ax_lr) = figure(3)
    start = 0
    for i, s in enumerate(stages):
        h = s["history"]
        n = len(h["loss"])
        xs = list(range(start + 1, start + n + 1))
        color = f"C{i % 10}"
        ax_loss.plot(xs, h["loss"], "o-", color=color, label=s["label"])
        if h.get("accuracy"):
            ax_acc.plot(xs, [None if a is None else 100 * a for a in h["accuracy"]], "o-", color=color,
                        label=f"{s['label']} (train)")
        if h.get("eval_accuracy") and any(a is not None for a in h["eval_accuracy"]):
            ax_acc.plot(xs, [None if a is None else 100 * a for a in h["eval_accuracy"]], "s--", color=color,
                        label=f"{s['label']} (test)")
        if h.get("lr"):
            ax_lr.plot(xs, h["lr"], "o-", color=color, label=s["label"])
        start += n
    from matplotlib.ticker import MaxNLocator

    for ax, title in ((ax_loss, "training loss"), (ax_acc, "accuracy (%)"), (ax_lr, "learning rate (end of epoch)")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel("epoch (all stages)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return png(fig)


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not dominated by another (smaller x and larger y are better), sorted by x."""
    best: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not best or y > best[-1][1]:
            best.append((x, y))
    return best


def plot_pareto(metrics: dict[str, Any]) -> bytes | None:
    """Accuracy vs latency (largest batch, best backend) and accuracy vs bytes on disk."""
    meas = metrics.get("measure") or {}
    rows = [r for r in meas.get("rows", []) if r.get("accuracy") is not None]
    if not rows:
        return None
    from matplotlib.ticker import NullFormatter

    batch = str(meas.get("batch_sizes", ["1"])[-1])
    fig, (ax_lat, ax_size) = figure(2, width=5.0, height=3.6)
    for ax, key, xlabel in ((ax_lat, "latency", f"latency @ batch {batch} (ms, best backend)"),
                            (ax_size, "bytes", "bytes on disk")):
        pts = []
        for i, r in enumerate(rows):
            x = ((r.get("best") or {}).get(batch) or {}).get("ms") if key == "latency" else r.get("bytes_on_disk")
            if x is None:
                continue
            y = 100 * r["accuracy"]
            pts.append((x, y))
            ax.scatter([x], [y], color=f"C{i % 10}", s=40, zorder=3)
            ax.annotate(r["label"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = frontier(pts)
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="gray", alpha=0.6,
                    label="Pareto front")
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels on a narrow log axis overlap
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3, which="both")
    ax_lat.set_title("accuracy vs latency")
    ax_size.set_title("accuracy vs size")
    return png(fig)


def plot_layers(metrics: dict[str, Any]) -> bytes | None:
    """Per layer: kept output channels (structural pruning) and weight sparsity, one bar per stage."""
    rows = (metrics.get("measure") or {}).get("rows", [])
    rows = [r for r in rows if r.get("per_layer")]
    if not rows:
        return None
    layers = [lay["name"] for lay in rows[0]["per_layer"]]
    if not layers:
        return None
    fig, (ax_kept, ax_sparse) = figure(2, width=max(4.5, 0.7 * len(layers) + 2), height=3.4)
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        kept = {k["name"]: k["kept_fraction"] for k in r.get("kept", [])}
        sparse = {lay["name"]: lay["sparsity"] for lay in r["per_layer"]}
        xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(layers))]
        ax_kept.bar(xs, [100 * kept.get(n, float("nan")) for n in layers], width, label=r["label"], color=f"C{i % 10}")
        ax_sparse.bar(xs, [100 * sparse.get(n, float("nan")) for n in layers], width, label=r["label"],
                      color=f"C{i % 10}")
    for ax, title in ((ax_kept, "kept output channels (% of baseline)"), (ax_sparse, "weight sparsity (% zeros)")):
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels(layers, rotation=45, ha="right", fontsize=7)
        ax.set_title(title)
        ax.set_ylim(0, 125)  # room above 100% for the legend
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7, loc="upper center", ncol=min(len(rows), 4))
    return png(fig)


def plot_sensitivity(metrics: dict[str, Any]) -> bytes | None:
    """Per-layer quantization sensitivity (one layer quantized at a time), when it was measured."""
    sens = (metrics.get("measure") or {}).get("sensitivity")
    if not sens or not sens.get("layers"):
        return None
    layers = sens["layers"]
    fig, (ax,) = figure(1, width=max(5.0, 0.6 * len(layers) + 2), height=3.4)
    ax.bar(range(len(layers)), [lay["value"] for lay in layers], color="C3")
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([lay["name"] for lay in layers], rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(sens.get("metric", "sensitivity"))
    ax.set_title(f"int8 sensitivity per layer ({sens.get('stage', '')})")
    ax.grid(alpha=0.3, axis="y")
    return png(fig)


def make_plots(metrics: dict[str, Any]) -> dict[str, bytes]:
    """name -> PNG bytes for every plot the metrics allow."""
    makers = {"training": plot_training, "pareto": plot_pareto, "layers": plot_layers,
              "sensitivity": plot_sensitivity, "sizes": lambda m: size_report.plot_sizes(m, figure, png)}
    out = {}
    for name, fn in makers.items():
        image = fn(metrics)
        if image:
            out[name] = image
    return out


# --------------------------------------------------------------------------- documents

_CAPTIONS = {"training": "Training curves per stage", "pareto": "Accuracy vs latency and size (Pareto view)",
             "layers": "Per-layer kept channels and sparsity", "sensitivity": "Per-layer quantization sensitivity",
             "sizes": "Bytes on disk by part (weights, masks, codebooks, indices, gaps, biases, metadata)"}

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}.note{color:#555}"""


def _summary_lines(metrics: dict[str, Any]) -> list[str]:
    final = metrics.get("final") or {}
    if not final:
        return []
    lines = [f"Final model `{final.get('label')}` vs baseline `{metrics.get('baseline')}` (measured in this run):"]
    for key, label, fmt in (("speedup", "faster at batch {b} (best backend vs torch eager fp32)", _ratio),
                            ("size_ratio", "smaller on disk", _ratio), ("accuracy_drop", "accuracy change", None)):
        if key == "speedup":
            doubtful = (metrics.get("measure") or {}).get("doubtful") or {}
            for b, v in (final.get("speedup") or {}).items():
                lines.append(f"- {fmt(v)} {label.format(b=b)}" if b not in doubtful else
                             f"- speed at batch {b}: not claimed, the timing stayed doubtful "
                             f"({'; '.join(doubtful[b])})")
        elif key == "accuracy_drop" and final.get(key) is not None:
            where = f" (on {final['accuracy_backend']})" if final.get("accuracy_backend") else ""
            lines.append(f"- {-final[key]:+.2f} points {label}{where}")
            for b, backend in (final.get("best_backend") or {}).items():
                lines.append(f"- best backend at batch {b}: {backend}")
        elif final.get(key) is not None:
            lines.append(f"- {fmt(final[key])} {label}")
    return lines


def render_markdown(metrics: dict[str, Any], plot_files: dict[str, str]) -> str:
    """``report.md``: summary, results table, stage log, plots (as files next to it), recipe."""
    header, rows = table_rows(metrics)
    sh, srows = stage_rows(metrics)
    parts = [f"# {metrics.get('title', 'slimtorch run')}", "", *_summary_lines(metrics), "", "## Results", "",
             markdown_table(header, rows), "", (metrics.get("measure") or {}).get("note", ""), *doubt_lines(metrics),
             "", "## Stages", "",
             markdown_table(sh, srows), ""]
    zh, zrows = size_report.size_table(metrics)
    if zrows:
        parts += ["## Size breakdown (bytes)", "", markdown_table(zh, zrows), ""]
    for name, path in plot_files.items():
        parts += [f"## {_CAPTIONS.get(name, name)}", "", f"![{name}]({path})", ""]
    parts += ["## Recipe", "", "```json", json.dumps(metrics.get("recipe", {}), indent=2), "```", ""]
    return "\n".join(parts)


def render_html(metrics: dict[str, Any], plots: dict[str, bytes]) -> str:
    """``report.html``: the same content, self-contained (PNG plots embedded as data URIs)."""
    header, rows = table_rows(metrics)
    sh, srows = stage_rows(metrics)
    title = html.escape(metrics.get("title", "slimtorch run"))
    summary = _summary_lines(metrics)
    summary_html = ""
    if summary:
        items = "".join(f"<li>{html.escape(s[2:])}</li>" for s in summary[1:])
        summary_html = f"<p>{html.escape(summary[0])}</p><ul>{items}</ul>"
    figs = "".join(
        f"<h2>{html.escape(_CAPTIONS.get(n, n))}</h2><img alt='{n}' src='data:image/png;base64,"
        f"{base64.b64encode(image).decode()}'>" for n, image in plots.items())
    note = html.escape(" ".join([(metrics.get("measure") or {}).get("note", ""), *doubt_lines(metrics)]))
    recipe = html.escape(json.dumps(metrics.get("recipe", {}), indent=2))
    zh, zrows = size_report.size_table(metrics)
    sizes = f"<h2>Size breakdown (bytes)</h2>{html_table(zh, zrows)}" if zrows else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{_CSS}</style></head>"
            f"<body><h1>{title}</h1>{summary_html}<h2>Results</h2>{html_table(header, rows)}"
            f"<p class='note'>{note}</p><h2>Stages</h2>{html_table(sh, srows)}{sizes}{figs}"
            f"<h2>Recipe</h2><pre>{recipe}</pre></body></html>")


def write_report(run_dir: str | Path, metrics: dict[str, Any], plots: bool = True) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``plots/*.png`` into ``run_dir`` (atomically).

    Args:
        run_dir: the run directory.
        metrics: the dict the pipeline writes as ``metrics.json``.
        plots: draw the plots (False: tables only).

    Returns:
        {"markdown": path, "html": path, "<plot>": path, ...}.

    Example:
        >>> write_report("runs/demo", json.load(open("runs/demo/metrics.json")))  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    plots = make_plots(metrics) if plots else {}
    written: dict[str, Path] = {}
    for name, image in plots.items():
        path = run_dir / "plots" / f"{name}.png"
        atomic_write(path, lambda tmp, image=image: Path(tmp).write_bytes(image))
        written[name] = path
    md = render_markdown(metrics, {n: f"plots/{n}.png" for n in plots})
    page = render_html(metrics, plots)
    atomic_write(run_dir / "report.md", lambda tmp: Path(tmp).write_text(md))
    atomic_write(run_dir / "report.html", lambda tmp: Path(tmp).write_text(page))
    written["markdown"], written["html"] = run_dir / "report.md", run_dir / "report.html"
    return written
