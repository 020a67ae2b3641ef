"""The coverage report of a channel prune: per group of coupled layers, pruned or kept, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

ATTR = "_slimtorch_prune_report"


@dataclass(frozen=True)
class Row:
    """One group: the layer outputs it spans, its units (channels/neurons/heads), how many were removed."""

    layers: list[str]
    units: int
    removed: int
    status: str  # "pruned" | "kept"
    reason: str


class PruneReport(list):
    """Rows of a prune; ``str()`` prints a table, ``to_dict()`` gives JSON-ready rows.

    ``notes`` are lines about the whole model (e.g. a Hugging Face config that cannot express the pruned widths).
    """

    notes: list[str] = []

    def to_dict(self) -> list[dict]:
        return [asdict(r) for r in self]

    def summary(self) -> dict[str, int]:
        pruned = [r for r in self if r.status == "pruned"]
        return {"groups": len(self), "pruned": len(pruned), "kept": len(self) - len(pruned),
                "units": sum(r.units for r in self), "removed": sum(r.removed for r in self)}

    def __str__(self) -> str:
        lines = [f"{'status':<7} {'removed':>11}  {'layers':<48} reason"]
        for r in sorted(self, key=lambda r: (r.status != "pruned", r.layers)):
            names = ", ".join(n.rpartition(".")[0] or n for n in r.layers[:3]) + (" ..." if len(r.layers) > 3 else "")
            lines.append(f"{r.status:<7} {f'{r.removed}/{r.units}':>11}  {names:<48} {r.reason}")
        s = self.summary()
        lines.append(f"{s['pruned']} of {s['groups']} groups pruned; {s['removed']} of {s['units']} units removed")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def attach(model: nn.Module, rows: list[Row], notes: list[str] = ()) -> None:
    """Store the report (and its model-wide notes) on the model (read back with :func:`report`)."""
    rep = PruneReport(rows)
    rep.notes = list(notes)
    object.__setattr__(model, ATTR, rep)


def report(model: nn.Module) -> PruneReport:
    """The coverage report of the last ``ChannelPrune`` applied to ``model``.

    Args:
        model: a model returned by ``st.prune(model, st.ChannelPrune(...), ...)``.

    Returns:
        A :class:`PruneReport` (a list of :class:`Row`; printable as a table).

    Raises:
        ValueError: the model was not channel-pruned in this session.

    Example:
        >>> small = st.prune(model, st.ChannelPrune(ratio=0.5), example_inputs=x)
        >>> print(st.pruning.report(small))
    """
    rep = getattr(model, ATTR, None)
    if rep is None:
        raise ValueError("report: this model has no channel-pruning report (run st.prune with ChannelPrune first)")
    return rep
