"""Multi-instance mosaics for training: the tiles, their captions and the draws."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from geoseek.models.training.mosaic import mosaic_batch


def _split(n: int = 6, side: int = 32) -> tuple[torch.Tensor, list[list[int]]]:
    # Each image one flat colour (its index), so a tile says which image it came from.
    pixels = torch.stack([torch.full((3, side, side), 10 * (i + 1), dtype=torch.uint8) for i in range(n)])
    return pixels, [[2 * i, 2 * i + 1] for i in range(n)]


def test_no_mosaic_is_the_plain_batch_and_draws_nothing():
    pixels, caps = _split()
    gen = torch.Generator().manual_seed(0)
    out = mosaic_batch(pixels, caps, torch.tensor([3, 1]), 0.0, gen)
    assert torch.equal(out.pixels, pixels[[3, 1]]) and out.caption_ids == [caps[3], caps[1]] == out.sample_from
    assert out.mosaics == 0 and torch.equal(gen.get_state(), torch.Generator().manual_seed(0).get_state())


def test_a_mosaic_holds_its_own_image_as_a_tile_and_every_tile_caption():
    pixels, caps = _split()
    rows = torch.tensor([0, 1, 2, 3])
    out = mosaic_batch(pixels, caps, rows, 0.5, torch.Generator().manual_seed(1))
    assert out.mosaics == 2 and out.pixels.shape == (4, 3, 32, 32)
    changed = [i for i in range(4) if not torch.equal(out.pixels[i], pixels[rows[i]])]
    assert len(changed) == 2
    for i in changed:
        quads = [out.pixels[i, :, y:y + 16, x:x + 16] for y in (0, 16) for x in (0, 16)]
        members = [int(q[0, 0, 0]) // 10 - 1 for q in quads]
        assert all(torch.all(q == q[0, 0, 0]) for q in quads)  # each quadrant is one whole image, shrunk
        assert int(rows[i]) in members
        assert out.caption_ids[i] == sorted({c for m in members for c in caps[m]})
        assert out.sample_from[i] in [caps[m] for m in members]  # the sampled caption is one tile's
    for i in set(range(4)) - set(changed):
        assert out.caption_ids[i] == caps[int(rows[i])] == out.sample_from[i]


def test_tiles_are_the_images_shrunk_and_draws_are_seeded():
    pixels = torch.randint(0, 256, (5, 3, 31, 31), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    caps = [[i] for i in range(5)]
    a = mosaic_batch(pixels, caps, torch.tensor([0, 4]), 1.0, torch.Generator().manual_seed(5))
    b = mosaic_batch(pixels, caps, torch.tensor([0, 4]), 1.0, torch.Generator().manual_seed(5))
    assert torch.equal(a.pixels, b.pixels) and a.caption_ids == b.caption_ids and a.sample_from == b.sample_from
    # An odd side is covered to the last pixel (tiles of 16 and 15 px: nothing left black), each tile an image shrunk.
    boxes = [(slice(0, 16), slice(0, 16)), (slice(0, 16), slice(16, 31)), (slice(16, 31), slice(0, 16)),
             (slice(16, 31), slice(16, 31))]
    for ys, xs in boxes:
        tile = a.pixels[0, :, ys, xs]
        shrunk = F.interpolate(pixels.float(), size=tuple(tile.shape[1:]), mode="bilinear", antialias=True)
        assert any(torch.equal(tile, s.round().clamp(0, 255).to(torch.uint8)) for s in shrunk)


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_a_fraction_outside_0_1_is_refused(fraction):
    pixels, caps = _split()
    with pytest.raises(ValueError, match="between 0 and 1"):
        mosaic_batch(pixels, caps, torch.tensor([0]), fraction, torch.Generator())


def test_a_trainer_with_mosaics_learns_and_a_resumed_run_keeps_its_share(split_dataset, tiny_rn_config, tmp_path):
    from geoseek.models.training import TrainConfig, Trainer

    out = tmp_path / "run"
    cfg = dict(dataset=str(split_dataset), model=str(tiny_rn_config), out=str(out), epochs=1, batch_size=8, lr=1e-3,
               device="cpu", mosaic=0.5)
    trainer = Trainer(TrainConfig(**cfg), progress=False)
    rows = torch.arange(8)
    losses = [trainer.step(rows, torch.Generator().manual_seed(7))["loss"] for _ in range(3)]
    assert losses[2] < losses[0]  # the same mosaics each step (same seed): the loss falls on them
    trainer.run()
    saved = torch.load(out / "last.pt", map_location="cpu", weights_only=False)["train"]["config"]
    assert saved["mosaic"] == 0.5
    resumed = Trainer(TrainConfig(**{**cfg, "epochs": 2, "mosaic": 0.0}), resume=True, progress=False)
    assert resumed.cfg.mosaic == 0.5  # a resumed run keeps the recipe it started with
