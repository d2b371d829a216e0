"""Orientation averaging: the group arithmetic, and what it does to a real (tiny) image tower."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from geoseek.models import load_encoder
from geoseek.models.orientations import averaged_forward, orient, orientation_group, unorient_grid
from tests.conftest import RSICD


def _pool_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A stand-in tower that is exactly equivariant: 4x4 average-pooled cells, pooled = cells' mean plus a corner
    term (so pooled is NOT invariant and averaging has something to do)."""
    grid = F.avg_pool2d(x, x.shape[-1] // 4).permute(0, 2, 3, 1)  # (N, 4, 4, C)
    return grid.mean(dim=(1, 2)) + grid[:, 0, 0], grid


@pytest.mark.parametrize("turns,mirrored", orientation_group(8))
def test_unorient_grid_undoes_orient(turns, mirrored):
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(turns))
    _, upright = _pool_forward(x)
    _, oriented = _pool_forward(orient(x, turns, mirrored))
    if turns or mirrored:
        assert not torch.allclose(oriented, upright)  # the grid really moved ...
    torch.testing.assert_close(unorient_grid(oriented, turns, mirrored), upright)  # ... and is put back


@pytest.mark.parametrize("count", [2, 4, 8])
def test_averaging_is_invariant_to_the_groups_own_turns(count):
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(count))
    pooled, grid = averaged_forward(_pool_forward, x, count)
    for turns, mirrored in orientation_group(count):
        p2, g2 = averaged_forward(_pool_forward, orient(x, turns, mirrored), count)
        torch.testing.assert_close(p2, pooled, atol=1e-5, rtol=0)  # the same set of orientations is averaged
        # The grid of the turned image is the turned grid: cells still stand for their ground patch.
        torch.testing.assert_close(unorient_grid(g2, turns, mirrored), grid, atol=1e-5, rtol=0)
    one, _ = averaged_forward(_pool_forward, x, 1)
    turned, _ = averaged_forward(_pool_forward, orient(x, 1, False), 1)
    assert (one - turned).abs().max() > 1e-3  # without averaging the corner term changes with the turn


def test_bad_counts_are_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="orientations must be one of 1, 2, 4, 8; got 3"):
        orientation_group(3)


def _image(i: int = 0) -> Image.Image:
    return Image.open(sorted((RSICD / "images" / "Airport").glob("*.jpg"))[i]).convert("RGB")


def test_encoder_with_four_orientations_sees_a_turned_image_as_the_same(tiny_rn_config):
    four = load_encoder(str(tiny_rn_config), device="cpu", orientations=4)
    one = four.oriented(1)
    assert one.model is four.model and (one.orientations, four.orientations) == (1, 4) and four.oriented(4) is four
    im = _image()
    ims = [im, im.transpose(Image.Transpose.ROTATE_90)]
    pooled, dense = four.encode_images_and_dense(ims)
    np.testing.assert_allclose(pooled[0], pooled[1], atol=1e-4)
    np.testing.assert_allclose(four.encode_images(ims), pooled, atol=1e-5)
    # PIL's ROTATE_90 is counter-clockwise, as torch.rot90 on (H, W): the grid turns with the image.
    np.testing.assert_allclose(np.rot90(dense[0], 1, axes=(0, 1)), dense[1], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(dense, axis=-1), 1.0, atol=1e-5)
    plain = one.encode_images(ims)
    # One orientation: a turned image is another vector (a random-init tower is nearly invariant, so compare spreads).
    assert np.abs(plain[0] - plain[1]).max() > 20 * np.abs(pooled[0] - pooled[1]).max()
    with pytest.raises(ValueError, match="got 5"):
        four.oriented(5)
