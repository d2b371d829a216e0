"""Large images have their crops read while they are encoded (LazyCrops): the same views and vectors
as reading every crop up front, without holding them all."""
from __future__ import annotations

import numpy as np
import pytest

from geoseek.index.version import read_version
from geoseek.indexer import run_index
from geoseek.views import embed
from tests.conftest import JOPLIN

pytestmark = pytest.mark.slow  # indexes the Joplin scene twice (about 35 s)


def _vectors(root):
    data = read_version(root)
    return {lv: (d.size, np.asarray(d.vectors, np.float32)) for lv, d in data.levels.items()}


def test_lazy_crops_give_the_same_index_as_eager_ones(tmp_path, tiny_vit_config, monkeypatch):
    tiles = JOPLIN / "tiles" / "post"
    run_index([tiles], tmp_path / "eager", model=str(tiny_vit_config), device="cpu", progress=False, batch_size=16)
    seen = []
    real = embed.LazyCrops.__getitem__

    def spy(self, j):
        seen.append(j)
        return real(self, j)

    monkeypatch.setattr(embed, "LAZY_VIEWS", 8)  # the Joplin scene has more views than this: read lazily
    monkeypatch.setattr(embed.LazyCrops, "__getitem__", spy)
    run_index([tiles], tmp_path / "lazy", model=str(tiny_vit_config), device="cpu", progress=False, batch_size=16)
    eager, lazy = _vectors(tmp_path / "eager"), _vectors(tmp_path / "lazy")
    assert seen and sorted(seen) == list(range(len(seen)))  # every crop read once, on demand
    assert {lv: n for lv, (n, _) in eager.items()} == {lv: n for lv, (n, _) in lazy.items()}
    for lv in eager:
        np.testing.assert_allclose(eager[lv][1], lazy[lv][1], atol=1e-3)
