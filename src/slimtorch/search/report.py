"""The optimize report: the candidates table and Pareto plots (accuracy vs latency, accuracy vs size)."""

from __future__ import annotations

import base64
from typing import Any

from ..bench.latency import MAX_SPREAD
from ..bench.report import figure, frontier, html_table, markdown_table, png

HEADER = ["#", "kept channels per group", "val", "test", "params", "bytes", "ms (best backend)", "backend",
          "speedup", "IQR/median", "predicted ms"]


def rows(res: Any) -> list[list[str]]:
    """One row per candidate, the original first; the chosen one marked with *."""
    out = []
    for t in [res.baseline, *res.trials]:
        mark = " *" if t is res.chosen else ""
        longer = f" ({t.epochs} recovery epochs)" if getattr(t, "epochs", None) else ""  # a near miss trained longer
        out.append([f"{t.index}{mark}", " ".join(map(str, t.keep)) + longer, f"{t.val:.2f}",
                    "-" if t.test is None else f"{t.test:.2f}", f"{t.params:,}", f"{t.bytes:,}", f"{t.best_ms:.3f}",
                    t.backend, f"{t.speedup:.2f}x", _spread(t),
                    "-" if t.predicted_ms is None else f"{t.predicted_ms:.3f}"])
    return out


def _spread(t: Any) -> str:
    """The timing's IQR/median, flagged when over MAX_SPREAD (the rounds disagree: the ms is rough)."""
    if t.spread is None:
        return "-"
    return f"{t.spread:.2f}" + (" (unstable)" if t.spread > MAX_SPREAD else "")


def plot(res: Any) -> bytes | None:
    """Validation score vs measured latency and vs bytes on disk, every candidate, Pareto front drawn."""
    trials = [res.baseline, *res.trials]
    if len(trials) < 2:
        return None
    fig, axes = figure(2, width=5.0, height=3.6)
    for ax, xlabel, xs in ((axes[0], f"ms @ batch {res.batch_size} (best backend)", [t.best_ms for t in trials]),
                           (axes[1], "bytes on disk", [t.bytes for t in trials])):
        ys = [t.val for t in trials]
        ax.scatter(xs, ys, s=30, zorder=3)
        for t, x, y in zip(trials, xs, ys):
            ax.annotate(f"#{t.index}" + ("*" if t is res.chosen else ""), (x, y), textcoords="offset points",
                        xytext=(3, 3), fontsize=7)
        front = frontier(list(zip(xs, ys)))
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="gray", alpha=0.6,
                    label="Pareto front")
            ax.legend(fontsize=7)
        ax.axhline(res.baseline.val - res.max_drop, color="red", alpha=0.4, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"validation {res.metric} (%)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("accuracy vs latency")
    axes[1].set_title("accuracy vs size")
    return png(fig)


def png_tag(image: bytes) -> str:
    """An <img> with the PNG inlined (the HTML report is one self-contained file)."""
    return f'<img src="data:image/png;base64,{base64.b64encode(image).decode()}">'


def render(res: Any) -> tuple[str, str, dict[str, bytes]]:
    """``(markdown, html, {png name: bytes})`` of the report."""
    header = [h if h != "val" else f"val {res.metric}" for h in HEADER]
    body = rows(res)
    image = plot(res)
    title = f"slimtorch optimize: objective={res.objective}, budget -{res.max_drop} points of {res.metric}"
    summary = res.summary().splitlines()
    md = "\n".join([f"# {title}", "", *[f"- {s}" for s in summary], "", markdown_table(header, body), ""]
                   + (["![Pareto](pareto.png)", ""] if image else []))
    html = "\n".join([f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>", f"<h1>{title}</h1>",
                      "<ul>" + "".join(f"<li>{s}</li>" for s in summary) + "</ul>", html_table(header, body),
                      png_tag(image) if image else "", "</body></html>"])
    return md, html, ({"pareto.png": image} if image else {})
