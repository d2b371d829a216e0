"""``geoseek bench caption``: caption images by retrieval from the train captions; BLEU-1..4 and CIDEr.

Retrieval captioning (Devlin et al. 2015, "Exploring nearest neighbor approaches for image
captioning"): each image of the scored split is uploaded to the engine as bytes (views planned
and encoded like any query image) and searched image->text against the index's caption pool,
which holds the captions of the train split. Its ``candidates`` best captions (fused scores) are
the candidates, in retrieval order.
- top1: the best retrieved caption.
- consensus: the candidate with the highest mean cosine similarity to the *other* candidates,
  computed on the caption vectors stored in the index (unit vectors; cosine = dot). Devlin et
  al. measure that agreement with BLEU/CIDEr; embedding cosine needs no extra encoding. The
  retrieval score only selects the candidates; ties (to 1e-6) go to the better retrieved one.
  Repeated caption strings (RSICD repeats many) count once per carrier: agreement they earn.
Scoring: pycocoevalcap's ``Bleu(4)`` and ``Cider()`` (CIDEr-D, as COCO reports it) on captions
tokenised by ``tokenise`` (no Java PTB tokenizer); the references of an image are all its own
non-empty captions. The index must not hold any image of the scored split (its own captions
would be retrievable): such an index is refused, as is one without captions.
"""
from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from geoseek.bench.recall import BenchError, split_items, split_queries
from geoseek.extras import require
from geoseek.schemas import LevelWeights
from geoseek.schemas.search import MAX_K
from geoseek.search.engine import SearchEngine

log = logging.getLogger(__name__)

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr")
CAPTION_METRICS = "Captioning metrics (geoseek bench caption)"  # the 'bench' extra: pycocoevalcap
_WORD = re.compile(r"\w+(?:[-'\u2019]\w+)*")


def tokenise(caption: str) -> str:
    """Lowercase words joined by single spaces; punctuation dropped.

    Like pycocoevalcap's PTB tokenizer with its punctuation removal (. , ? ! : ; quotes, brackets,
    free-standing dashes go; hyphenated words stay whole), except that clitics stay attached
    ("it's", PTB: "it 's") and numbers split at a decimal point; RSICD captions have neither.
    """
    return " ".join(_WORD.findall(caption.lower()))


def consensus_choice(vectors: np.ndarray) -> int:
    """Row of the candidate most similar on average to the others.

    vectors: (k, D) unit caption vectors in retrieval order, k >= 1. Ties go to the lower row.
    """
    v = np.asarray(vectors, np.float32)
    if len(v) == 1:
        return 0
    sim = v @ v.T
    mean_other = (sim.sum(axis=1) - np.diag(sim)) / (len(v) - 1)
    return int(np.argmax(np.round(mean_other, 6)))  # first maximum: rounding makes near-ties go by rank


def score_captions(captions: list[str], references: list[list[str]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (0..1) and CIDEr of captions[i] against references[i] (each non-empty)."""
    Bleu = require("pycocoevalcap.bleu.bleu", "bench", CAPTION_METRICS).Bleu
    Cider = require("pycocoevalcap.cider.cider", "bench", CAPTION_METRICS).Cider

    if len(captions) != len(references) or not captions or any(not refs for refs in references):
        raise ValueError("score_captions needs one caption and at least one reference per image")
    res = {i: [tokenise(c)] for i, c in enumerate(captions)}
    gts = {i: [tokenise(r) for r in refs] for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    cider, _ = Cider().compute_score(gts, res)
    return {name: round(float(s), 4) for name, s in zip(METRICS, [*bleu, cider])}


def caption_benchmark(index: Path, dataset: Path, split: str = "test", levels: list[str] | None = None,
                      weights: LevelWeights | None = None, candidates: int = 15, engine: SearchEngine | None = None,
                      progress: bool = True, examples: int = 5, image_dir: Path | None = None) -> dict:
    """Caption every captioned image of ``split`` from the index's caption pool (the train split);
    returns the JSON-ready result: consensus and top1 BLEU-1..4 (0..1) and CIDEr, plus examples."""
    started = time.perf_counter()
    require("pycocoevalcap", "bench", CAPTION_METRICS)  # before the retrieval, not after it
    if not 1 <= candidates <= MAX_K:
        raise BenchError(f"candidates must be between 1 and {MAX_K}; got {candidates}")
    engine = engine or SearchEngine(index)
    state = engine.state()
    pool = state.text
    if not pool.text_ids:
        raise BenchError(f"{index} holds no captions; build the caption pool from the train split "
                         "(`geoseek index DATASET --split train --index DIR`)")
    items = split_items(dataset, split, image_dir)  # hashes the split's files once, for the ids and the query files
    image_ids, entries = split_queries(dataset, split, items)
    leaked = set(image_ids) & (set(state.images.ids) | set(pool.image_ids))
    if leaked:
        raise BenchError(f"the index holds {len(leaked)} image(s) of split '{split}', whose own captions would be "
                         f"retrieved; caption from an index of the train split only "
                         f"(`geoseek index DATASET --split train --index DIR`)")
    references: dict[str, list[str]] = {}
    for text, iid in entries:
        references.setdefault(iid, []).append(text)
    if not references:
        raise BenchError(f"{dataset}: split '{split}' has no captions to score against")
    files: dict[str, Path] = {}
    for iid, it in items:
        files.setdefault(iid, it.paths[0])
    row_of = {tid: r for r, tid in enumerate(pool.text_ids)}
    chosen, top1, used = [], [], None
    for iid in tqdm(references, desc="captioning", disable=not progress, leave=False):
        used = engine.search_image(files[iid].read_bytes(), target="texts", k=candidates, levels=levels, weights=weights,
                                    distinct=False)
        if used.version != state.version:
            raise BenchError(f"{index} moved from version {state.version} to {used.version} during the run; run again")
        rows = [row_of[hit.text_id] for hit in used.results]
        top1.append(used.results[0].text)
        chosen.append(used.results[consensus_choice(pool.vectors[rows])].text)
    refs = list(references.values())
    result = {
        "consensus": score_captions(chosen, refs), "top1": score_captions(top1, refs),
        "levels": used.levels, "weights": used.weights, "candidates": candidates, "n_images": len(refs),
        "caption_pool": len(pool.text_ids), "split": split, "dataset": str(dataset), "index": str(index),
        "index_version": state.version, "model": state.manifest.model.id,
        "seconds": round(time.perf_counter() - started, 1),
        "examples": [{"image": files[iid].name, "caption": c, "top1": t, "references": r}
                     for iid, c, t, r in list(zip(references, chosen, top1, refs))[:examples]],
    }
    log.info("captioned %d images of '%s': consensus CIDEr %.4f, top1 CIDEr %.4f", len(refs), split,
             result["consensus"]["CIDEr"], result["top1"]["CIDEr"])
    return result
