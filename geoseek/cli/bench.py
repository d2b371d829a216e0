"""``geoseek bench ...`` commands (a typer sub-app mounted by geoseek.cli)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from geoseek.cli.common import (
    DeviceOpt,
    FusionOpt,
    LevelsOpt,
    comma_list,
    open_engine,
    parse_fusion,
    setup_logging,
    user_errors,
)
from geoseek.schemas.bench import MatchRule

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks through the real index and search engine.")

# Options several bench commands share.
DatasetOpt = Annotated[Path, typer.Option("--dataset", help="Karpathy-style dataset.json with the captions.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Also write the JSON result here.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
ImageDirOpt = Annotated[Optional[Path], typer.Option("--image-dir", help="Folder holding the dataset json's images "
                        "(default: found next to the json, as `geoseek index` finds it).")]


@bench_app.command("recall")
def recall(
    index: Annotated[Path, typer.Option("--index", help="Index directory holding exactly the split to score.")],
    dataset: DatasetOpt,
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    levels: LevelsOpt = None,
    weights: FusionOpt = None,
    refine: Annotated[bool, typer.Option("--refine", help="Zoom refine on text->image.")] = False,
    store: Annotated[Optional[str], typer.Option(help="Vector store: faiss (default), milvus://host:port or a "
                     "Milvus Lite .db path.")] = None,
    match: Annotated[MatchRule, typer.Option(help="Text->image relevance: 'image' (standard: a caption's only "
                     "correct image is its own) or 'caption' (LENIENT: any image with the identical string).")
                     ] = MatchRule.IMAGE,
    image_dir: ImageDirOpt = None,
    device: DeviceOpt = "auto",
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Text->image and image->text R@1/5/10 and mR over one split (JSON on stdout; standard own-image rule)."""
    from geoseek.bench.recall import recall_benchmark

    if match is not MatchRule.IMAGE:
        typer.echo(f"note: {match.description}", err=True)
    lv, w = comma_list(levels), parse_fusion(weights)
    _run(index, device, out, lambda engine: {**recall_benchmark(index, dataset, split, levels=lv, weights=w, refine=refine,
                                                                engine=engine, progress=not quiet, match=match,
                                                                image_dir=image_dir),
                                             "store": engine.store_spec or "faiss"}, store=store)


@bench_app.command("tune-fusion")
def tune_fusion_cmd(
    index: Annotated[Path, typer.Option("--index", help="Index directory holding exactly the val split.")],
    dataset: DatasetOpt,
    split: Annotated[str, typer.Option(help="Split to tune on (never the test split you report).")] = "val",
    step: Annotated[float, typer.Option(min=0.01, max=0.5, help="Grid spacing on the weight simplex.")] = 0.1,
    to_checkpoint: Annotated[Optional[Path], typer.Option("--to-checkpoint", help="Also store the weights in this "
                             "geoseek checkpoint: new indexes built with it start from them.")] = None,
    image_dir: ImageDirOpt = None,
    device: DeviceOpt = "auto",
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the JSON result (whole grid) here.")] = None,
) -> None:
    """Grid-search each direction's global/region/object weights on val (own-image rule recall; image->image mAP by
    class label) and write them into the index manifest."""
    from geoseek.bench.fusion import (
        check_checkpoint,
        set_checkpoint_fusion,
        tune_fusion,
    )
    from geoseek.schemas import FusionWeights
    setup_logging(False)
    if split == "test":
        typer.echo("warning: tuning on the test split makes its recall optimistic", err=True)
    engine = open_engine(index, device)
    with user_errors():
        if to_checkpoint is not None:
            check_checkpoint(to_checkpoint)  # before anything is published
        result = tune_fusion(index, dataset, split, step=step, engine=engine, image_dir=image_dir)
        if to_checkpoint is not None:
            set_checkpoint_fusion(to_checkpoint, FusionWeights.model_validate(result["chosen"]["weights"]),
                                  result["orientations"])
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: result[k] for k in ("split", "chosen", "one_triple", "global_only", "written_version", "n_queries",
                                      "orientations")}
    typer.echo(json.dumps(summary, indent=2))


@bench_app.command("speed")
def speed(
    index: Annotated[Path, typer.Option("--index", help="Index directory to measure (its sources must still be readable).")],
    sample: Annotated[int, typer.Option(min=1, help="Images re-indexed per indexing configuration.")] = 64,
    queries: Annotated[int, typer.Option(min=1, help="Text queries per latency configuration.")] = 200,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent threads for the QPS run.")] = 8,
    repeats: Annotated[int, typer.Option(min=1, help="Indexing runs / QPS rounds per configuration (median).")] = 3,
    refine_top: Annotated[int, typer.Option("--refine-top", min=1, help="Hits zoom refine looks into.")] = 5,
    no_indexing: Annotated[bool, typer.Option("--no-indexing", help="Skip the indexing-throughput part.")] = False,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (query encoder; cpu also keeps FAISS on the CPU)")] = "auto",
    out: OutOpt = None,
) -> None:
    """Indexing images/s and encoder calls, latency p50/p95/p99, QPS and bytes/image vs the global-only flat baseline."""
    from geoseek.bench.speed import speed_benchmark

    _run(index, device, out, lambda engine: speed_benchmark(index, sample=sample, queries=queries, clients=clients,
                                                            repeats=repeats, refine_top=refine_top,
                                                            indexing=not no_indexing, engine=engine))


@bench_app.command("caption")
def caption(
    index: Annotated[Path, typer.Option("--index", help="Index of the train split: its captions are the caption pool.")],
    dataset: DatasetOpt,
    split: Annotated[str, typer.Option(help="Split whose images are captioned and scored.")] = "test",
    levels: LevelsOpt = None,
    weights: FusionOpt = None,
    candidates: Annotated[int, typer.Option(min=1, help="Retrieved captions the consensus re-ranking chooses from.")] = 15,
    examples: Annotated[int, typer.Option(min=0, help="Captioned examples kept in the JSON.")] = 5,
    image_dir: ImageDirOpt = None,
    device: DeviceOpt = "auto",
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Retrieval captioning of a split (image->text over the train captions + consensus re-ranking): BLEU-4, CIDEr."""
    from geoseek.bench.caption import caption_benchmark

    lv, w = comma_list(levels), _direction(parse_fusion(weights), "image_to_text")
    _run(index, device, out, lambda engine: caption_benchmark(index, dataset, split, levels=lv, weights=w,
                                                              candidates=candidates, engine=engine,
                                                              progress=not quiet, examples=examples,
                                                              image_dir=image_dir))


@bench_app.command("localise")
def localise(
    index: Annotated[Path, typer.Option("--index", help="Index of the one scene the boxes are drawn on.")],
    boxes: Annotated[Path, typer.Option("--boxes", help="Ground-truth building boxes (pixel xyxy) of the scene.")],
    query: Annotated[Optional[list[str]], typer.Option("--query", help="Text query (repeatable).")] = None,
    levels: Annotated[str, typer.Option(help="Comma list of the view levels to rank.")] = "region,object",
    top: Annotated[int, typer.Option(min=1, help="Hits scored per query and level.")] = 20,
    refine: Annotated[bool, typer.Option("--refine", help="Zoom refine the region hits.")] = False,
    device: DeviceOpt = "auto",
    out: OutOpt = None,
) -> None:
    """Share of the top region/object hits that fall on ground-truth buildings, next to chance."""
    from geoseek.bench.localise import localisation_benchmark

    queries = query or ["buildings", "houses destroyed by a tornado", "a road"]
    lv = tuple(comma_list(levels) or ())
    _run(index, device, out, lambda engine: localisation_benchmark(index, boxes, queries, levels=lv, top=top,
                                                                   refine=refine, engine=engine))


@bench_app.command("similar")
def similar(
    index: Annotated[Path, typer.Option("--index", help="Index directory holding exactly the split to score.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset with a class label per image: a dataset.json "
                       "('label' or 'aid_class') or a class-folder directory.")],
    split: Annotated[str, typer.Option(help="Split to score.")] = "test",
    k: Annotated[int, typer.Option("--k", min=1, help="K of mAP@K (the engine returns at most 1000 results).")] = 100,
    weights: FusionOpt = None,
    image_dir: ImageDirOpt = None,
    device: DeviceOpt = "auto",
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Image->image retrieval by class label: mAP@K, P@10, P@100 overall and per class, global-only vs fused."""
    from geoseek.bench.similar import similar_benchmark

    w = _direction(parse_fusion(weights), "image_to_image")
    _run(index, device, out, lambda engine: similar_benchmark(index, dataset, split, k=k, weights=w, engine=engine,
                                                              progress=not quiet, image_dir=image_dir))


@bench_app.command("scenes")
def scenes(
    index: Annotated[Path, typer.Option("--index", help="Index built from the COCO image folder (`geoseek index IMAGES`).")],
    coco: Annotated[Path, typer.Option("--coco", help="COCO json with the object boxes (bbox x,y,w,h px).")],
    images: Annotated[Optional[Path], typer.Option("--images", help="Folder of the COCO images (default: images/ "
                      "beside the json, else the json's folder).")] = None,
    phrases: Annotated[Optional[Path], typer.Option("--phrases", help="JSON {category: [phrase, ...]} replacing the "
                       "built-in phrases of those categories.")] = None,
    compare_index: Annotated[Optional[Path], typer.Option("--compare-index", help="A second index of the same images "
                             "(e.g. built with --uniform), scored side by side.")] = None,
    label: Annotated[Optional[str], typer.Option(help="Name of --index in the result (default: dris or uniform, "
                     "from its manifest).")] = None,
    compare_label: Annotated[Optional[str], typer.Option("--compare-label", help="Name of --compare-index "
                             "(default: dris or uniform).")] = None,
    configs: Annotated[Optional[str], typer.Option(help="Comma list of configurations: global, global+region, "
                       "global+object, fused, fused+refine (default: all the index's levels allow).")] = None,
    weights: Annotated[Optional[str], typer.Option(help="Level weights g,r,o for fused and fused+refine, or one "
                       "triple per direction (text_to_image's is used; default: the index manifest's).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Hits per query whose boxes are scored and zoom-refined.")] = 10,
    draws: Annotated[int, typer.Option(min=1, help="Random placements per box for the chance figures.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the random placements.")] = 0,
    device: DeviceOpt = "auto",
    out: OutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Small objects in large scenes: scene AP per class (mAP) and box localisation per configuration, next to chance."""
    from geoseek.bench.recall import BenchError
    from geoseek.bench.scenes import index_label, scenes_benchmark

    def job(engine: Any) -> dict:
        engines = {index_label(engine, label): engine}
        if compare_index is not None:
            other = open_engine(compare_index, device)
            name = index_label(other, compare_label)
            if name in engines:
                raise BenchError(f"both indexes are labelled '{name}'; name them with --label/--compare-label")
            engines[name] = other
        return scenes_benchmark(engines, coco, images, phrases, configs=comma_list(configs), top=top, draws=draws,
                                seed=seed, progress=not quiet,
                                weights=_direction(parse_fusion(weights), "text_to_image"))

    _run(index, device, out, job)


def _direction(weights: Any, direction: str) -> Any:
    """The LevelWeights of one direction of parsed ``--weights`` (None: the index's)."""
    return None if weights is None else weights.of(direction)


def _run(index: Path, device: str, out: Optional[Path], job: Callable[[Any], dict], store: Optional[str] = None) -> None:
    """Open the index's engine (on ``store``), run a benchmark on it, print (and optionally write) its JSON; readable errors."""
    setup_logging(False)
    engine = open_engine(index, device, store)
    with user_errors():
        result = job(engine)
    _emit(result, out)


def _emit(result: dict, out: Optional[Path]) -> None:
    text = json.dumps(result, indent=2)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    typer.echo(text)
