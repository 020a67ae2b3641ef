"""The size part of a run report: bytes per stage split into weights, masks, codebooks, indices, gaps, ...

Reads ``measure.rows[*].size_breakdown`` (written by the pipeline's measure stage from each stage's saved
folder): a table of bytes per part and a stacked bar per stage, in bytes and in shares of the file.
"""

from __future__ import annotations

from typing import Any

from ..compression.breakdown import LABELS, PARTS


def breakdown_rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """``[(stage, {part: bytes})]`` for the measured stages that recorded a breakdown, in stage order."""
    rows = (metrics.get("measure") or {}).get("rows", [])
    return [(r["label"], r["size_breakdown"]) for r in rows if r.get("size_breakdown")]


def used_parts(rows: list[tuple[str, dict[str, int]]]) -> list[str]:
    """The parts any stage has bytes in: the known ones in :data:`PARTS` order, then any other."""
    used = {p for _, sizes in rows for p, v in sizes.items() if v}
    extra = sorted(used - set(PARTS))
    return [p for p in PARTS if p in used] + extra


def size_table(metrics: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the bytes-per-part table (empty rows when nothing was recorded)."""
    rows = breakdown_rows(metrics)
    parts = used_parts(rows)
    header = ["stage", "bytes on disk", *(LABELS.get(p, p) for p in parts)]
    return header, [[label, f"{sum(sizes.values()):,}", *(f"{sizes.get(p, 0):,}" for p in parts)]
                    for label, sizes in rows]


def plot_sizes(metrics: dict[str, Any], figure: Any, png: Any) -> bytes | None:
    """Stacked bars per stage: bytes on disk by part, and each part's share of its stage's file.

    Args:
        metrics: the run's metrics.
        figure: ``figure(ncols, width, height) -> (fig, axes)`` (the report's Agg figure maker).
        png: ``png(fig) -> bytes``.
    """
    rows = breakdown_rows(metrics)
    if not rows:
        return None
    parts = used_parts(rows)
    labels = [label for label, _ in rows]
    fig, (ax_bytes, ax_share) = figure(2, width=max(4.5, 0.9 * len(rows) + 2.5), height=3.8)
    totals = [sum(sizes.values()) for _, sizes in rows]
    bottoms, share_bottoms = [0.0] * len(rows), [0.0] * len(rows)
    for i, part in enumerate(parts):
        values = [sizes.get(part, 0) / 1024 for _, sizes in rows]
        shares = [100 * 1024 * v / t if t else 0.0 for v, t in zip(values, totals)]
        color = f"C{i % 10}"
        ax_bytes.bar(labels, values, bottom=bottoms, color=color, label=LABELS.get(part, part))
        ax_share.bar(labels, shares, bottom=share_bottoms, color=color)
        bottoms = [b + v for b, v in zip(bottoms, values)]
        share_bottoms = [b + s for b, s in zip(share_bottoms, shares)]
    for x, total in enumerate(totals):
        ax_bytes.annotate(f"{total / 1024:,.1f} KiB", (x, total / 1024), textcoords="offset points", xytext=(0, 2),
                          ha="center", fontsize=7)
    ax_bytes.set_title("bytes on disk by part (KiB)")
    ax_share.set_title("share of each stage's file (%)")
    ax_bytes.legend(fontsize=7)
    for ax in (ax_bytes, ax_share):
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
        ax.grid(alpha=0.3, axis="y")
    return png(fig)
