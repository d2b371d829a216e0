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


DIRECTION_NAMES = {"text_to_image": "t2i", "image_to_text": "i2t", "image_to_image": "i2i"}


def weights_str(w: dict | None) -> str:
    """g/r/o of one triple, or 't2i g/r/o, i2t g/r/o, i2i g/r/o' of per-direction weights."""
    if w and "text_to_image" in w:
        return ", ".join(f"{short} {weights_str(w[d])}" for d, short in DIRECTION_NAMES.items() if d in w)
    return "/".join(f"{w[k]:g}" for k in ("global", "region", "object") if k in w) if w else "-"


def recall_row(label: str, r: dict) -> list:
    w = r["weights"]
    if r.get("weights_i2t") and r["weights_i2t"] != w:  # the two directions used different weights
        w = {"text_to_image": w, "image_to_text": r["weights_i2t"]}
    return [label, weights_str(w), *(r["t2i"][k] for k in KS), *(r["i2t"][k] for k in KS), r["mR"]]


RECALL_HEADER = ["configuration", "weights g/r/o", "t2i R@1", "t2i R@5", "t2i R@10", "i2t R@1", "i2t R@5", "i2t R@10", "mR"]
