"""Markdown helpers shared by the benchmark summary modules (summary.py, summary_eval.py)."""
from __future__ import annotations

from summary_plots import KS


def table(header: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return f"{v:,.2f}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows])


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def weights_str(w: dict | None) -> str:
    return "/".join(f"{w[k]:g}" for k in ("global", "region", "object") if k in w) if w else "-"


def recall_row(label: str, r: dict) -> list:
    return [label, weights_str(r["weights"]), *(r["t2i"][k] for k in KS), *(r["i2t"][k] for k in KS), r["mR"]]


RECALL_HEADER = ["configuration", "weights g/r/o", "t2i R@1", "t2i R@5", "t2i R@10", "i2t R@1", "i2t R@5", "i2t R@10", "mR"]
