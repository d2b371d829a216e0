"""``geoseek bench recall``: R@1/5/10 and mR through the real index and search engine.

Definitions (RemoteCLIP / GeoRSCLIP evaluations):
- image->text: one query per image; a hit at K if one of the image's own caption entries is in
  its top K captions (every caption entry of the split is a candidate, repeats included).
- text->image: one query per caption entry; a hit at K if the caption's own image is in the top
  K (the standard own-image rule, ``MatchRule.IMAGE``). ``MatchRule.CAPTION`` is the lenient
  variant that also accepts any image of the split carrying the identical string (RSICD repeats
  captions); results name the rule they were scored by.
The gallery is the index itself, so the index must hold exactly the split being scored
(``geoseek index DATASET --split test``); anything else is refused rather than scored.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from geoseek.datasets.sources import SourceItem, content_ids, discover
from geoseek.metrics import KS, mean_recall, recall_at_k
from geoseek.schemas import FusionWeights
from geoseek.schemas.bench import MatchRule
from geoseek.schemas.errors import BenchError  # noqa: F401 - raised here, re-exported
from geoseek.search.engine import SearchEngine

log = logging.getLogger(__name__)



def split_items(dataset: Path, split: str, image_dir: Path | None = None) -> list[tuple[str, SourceItem]]:
    """(image id as the indexer assigns it, dataset item) for every image of the split, in file order.

    ``dataset``: a dataset json (its images found as `geoseek index` finds them, or in ``image_dir``) or a
    class-folder directory; a folder without split folders is one gallery, as `geoseek index` keeps it whole.
    """
    # The same reader `geoseek index DATASET --split SPLIT` uses, so the benchmark sees the indexed images.
    chosen, _ = discover([dataset], splits=[split], image_dir=image_dir if dataset.suffix.lower() == ".json" else None)
    if not chosen:
        raise BenchError(f"{dataset}: no images in split '{split}'")
    return [(content_ids(it.paths)[0], it) for it in chosen]


def split_queries(dataset: Path, split: str, items: list[tuple[str, SourceItem]] | None = None,
                  image_dir: Path | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """(image ids of the split, caption entries as (text, image id)); ``items``: split_items' result, if at hand."""
    image_ids, entries = [], []
    for iid, it in items or split_items(dataset, split, image_dir):
        if iid not in image_ids:
            image_ids.append(iid)
        entries += [(c.strip(), iid) for c in it.captions if c.strip()]
    return image_ids, entries


def caption_carriers(entries: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Caption string -> the image ids carrying it (the text->image relevance set)."""
    carriers: dict[str, set[str]] = {}
    for text, iid in entries:
        carriers.setdefault(text, set()).add(iid)
    return carriers


def _check_gallery(engine: SearchEngine, image_ids: list[str], split: str) -> None:
    indexed = set(engine.state().images.ids)
    missing = [i for i in image_ids if i not in indexed]
    extra = indexed - set(image_ids)
    if missing:
        raise BenchError(f"{len(missing)} image(s) of split '{split}' are not in the index; build it with "
                         f"`geoseek index DATASET --split {split} --index DIR`")
    if extra:
        raise BenchError(f"the index holds {len(extra)} image(s) outside split '{split}'; recall needs a gallery of "
                         f"exactly that split (`geoseek index DATASET --split {split} --index DIR`)")


def _check_captions(engine: SearchEngine, entries: list[tuple[str, str]], split: str) -> None:
    """The index's captions must be the split's caption entries (image->text ranks exactly those), else refuse."""
    text = engine.state().text
    indexed, listed = Counter(zip(text.texts, text.image_ids)), Counter(entries)
    if indexed != listed:
        extra, missing = sum((indexed - listed).values()), sum((listed - indexed).values())
        raise BenchError(f"the index's captions differ from split '{split}' of the dataset ({missing:,} caption "
                         f"entries of the split not indexed, {extra:,} indexed ones not in it); rebuild the index "
                         "from this dataset json")


def recall_benchmark(index: Path, dataset: Path, split: str = "test", levels: list[str] | None = None,
                     weights: FusionWeights | None = None, refine: bool = False, engine: SearchEngine | None = None,
                     progress: bool = True, match: MatchRule = MatchRule.IMAGE, image_dir: Path | None = None) -> dict:
    """Run both directions over the split; returns the JSON-ready result (percentages).

    ``weights``: each direction's level weights (None: the index manifest's for each direction).
    ``match`` decides the text->image relevance (see the module docstring); the default is the
    standard own-image rule. ``image_dir``: the dataset's image folder, as for `geoseek index --image-dir`.
    """
    started = time.perf_counter()
    engine = engine or SearchEngine(index)
    image_ids, entries = split_queries(dataset, split, image_dir=image_dir)
    _check_gallery(engine, image_ids, split)
    if not entries:
        raise BenchError(f"{dataset}: split '{split}' has no captions to score")
    _check_captions(engine, entries, split)
    k = max(KS)
    carriers = caption_carriers(entries)
    texts = sorted(carriers)
    vecs = dict(zip(texts, engine.encode_text_queries(texts, levels)))
    ranked: dict[str, list[str]] = {}  # a repeated string is searched once: the engine is deterministic
    used = None
    for text in tqdm(texts, desc="text->image", disable=not progress, leave=False):
        used = engine.search_text_vector(vecs[text], k=k, levels=levels, weights=weights and weights.text_to_image,
                                         refine=refine)
        ranked[text] = [hit.image_id for hit in used.results]
    rel_t2i = []
    for text, own in entries:
        correct = {own} if match is MatchRule.IMAGE else carriers[text]
        row = [iid in correct for iid in ranked[text]]
        rel_t2i.append(row + [False] * (k - len(row)))
    rel_i2t, used_i2t = [], None
    captioned = list(dict.fromkeys(iid for _, iid in entries))  # an image without captions can never hit
    for iid in tqdm(captioned, desc="image->text", disable=not progress, leave=False):
        used_i2t = engine.search_image(iid, target="texts", k=k, levels=levels, weights=weights and weights.image_to_text,
                                       distinct=False)
        row = [hit.image_id == iid for hit in used_i2t.results]
        rel_i2t.append(row + [False] * (k - len(row)))
    t2i, i2t = recall_at_k(np.array(rel_t2i)), recall_at_k(np.array(rel_i2t))
    state = engine.state()
    return {
        "t2i": t2i, "i2t": i2t, "mR": mean_recall(t2i, i2t), "match": match.as_json(),
        "levels": used.levels if used else levels, "refine": refine,
        # The normalised weights each direction used (the request's, else the manifest's for that direction).
        "weights": used.weights if used else None, "weights_i2t": used_i2t.weights if used_i2t else None,
        "n_queries": {"t2i": len(entries), "i2t": len(captioned)}, "gallery_images": len(state.images.ids),
        "split": split, "dataset": str(dataset), "index": str(index), "index_version": state.version,
        "model": state.manifest.model.id, "seconds": round(time.perf_counter() - started, 1),
    }
