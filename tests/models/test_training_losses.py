"""MS-VLAM loss terms: values, numerical gradients, and which weights each term trains."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from geoseek.models.dense import forward_with_dense
from geoseek.models.factory import build_from_config, lock_text
from geoseek.models.training.losses import (
    MSVLAMLoss,
    filip_scores,
    nce_rows,
    region_views,
)
from geoseek.schemas import LevelWeights
from tests.conftest import TINY_RN


def test_nce_rows_counts_every_positive():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    pos = torch.tensor([[True, True, False], [False, False, True]])
    expected = 0.5 * (
        -math.log((math.e**2 + math.e) / (math.e**2 + math.e + 1)) - math.log(math.e**3 / (2 + math.e**3))
    )
    assert float(nce_rows(logits, pos)) == pytest.approx(expected, rel=1e-6)
    # A repeated caption treated as a negative would cost more than as a second positive.
    assert float(nce_rows(logits, torch.tensor([[True, False, False], [False, False, True]]))) > expected


def test_filip_scores_pick_best_token_and_patch():
    cells = F.normalize(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), dim=-1)  # one image, two patches
    tokens = F.normalize(torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]), dim=-1)
    mask = torch.tensor([[True, False, False]])  # only the first token is content
    i2t, t2i = filip_scores(cells, tokens, mask)
    assert float(i2t) == pytest.approx(0.5)  # patch 1 matches the token (1), patch 2 is orthogonal (0)
    assert float(t2i) == pytest.approx(1.0)  # the one content token finds patch 1
    i2t, t2i = filip_scores(cells, tokens, torch.zeros(1, 3, dtype=torch.bool))
    assert float(i2t) == 0.0 and float(t2i) == 0.0  # no content token: 0, not NaN


def test_region_views_are_window_means():
    dense = F.normalize(torch.randn(2, 5, 5, 8), dim=-1)
    views = region_views(dense)
    assert views.shape == (2, 9, 8)  # every 3x3 window of a 5x5 grid
    manual = F.normalize(dense[0, 1:4, 2:5].reshape(-1, 8).mean(0), dim=0)
    assert torch.allclose(views[0, 1 * 3 + 2], manual, atol=1e-6)


def test_loss_functions_pass_gradcheck():
    torch.manual_seed(0)
    cells = F.normalize(torch.randn(3, 4, 6, dtype=torch.double), dim=-1).requires_grad_()
    toks = F.normalize(torch.randn(3, 5, 6, dtype=torch.double), dim=-1).requires_grad_()
    mask = torch.tensor([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    pos = torch.eye(3, dtype=torch.bool)
    pos[0, 2] = True

    def f(c, t):
        i2t, t2i = filip_scores(c, t, mask)
        return nce_rows(5 * i2t, pos) + nce_rows(5 * t2i.t(), pos.t())

    assert torch.autograd.gradcheck(f, (cells, toks), eps=1e-6, atol=1e-5)


def _tiny_batch(seed: int = 0):
    torch.manual_seed(seed)
    model = build_from_config(json.loads(json.dumps(TINY_RN)))
    lock_text(model)
    x = torch.randn(4, 3, 64, 64)
    sent = F.normalize(torch.randn(6, 32), dim=-1)
    pos = torch.zeros(4, 6, dtype=torch.bool)
    pos[torch.arange(4), torch.arange(4)] = True
    pos[0, 5] = True
    sampled = sent[:4]
    toks = F.normalize(torch.randn(4, 7, 32), dim=-1)
    mask = torch.ones(4, 7, dtype=torch.bool)
    return model, x, sent, pos, sampled, toks, mask, torch.eye(4, dtype=torch.bool)


@pytest.mark.parametrize("term", ["global", "region", "object"])
def test_each_term_trains_its_own_path_and_never_the_text_tower(term):
    model, x, sent, pos, sampled, toks, mask, spos = _tiny_batch()
    weights = LevelWeights.of(*(1.0 if t == term else 0.0 for t in ("global", "region", "object")))
    loss_fn = MSVLAMLoss(weights)
    model.train()
    image, dense = forward_with_dense(model.visual, x)
    out = loss_fn(image, dense, model.logit_scale, sent, pos, sampled, toks, mask, spos)
    assert set(out) == {"loss", "global", "region", "object"}
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    pool = "visual.attnpool."
    stem = next(n for n in grads if n.startswith("visual.conv1"))
    assert grads[stem] is not None and grads[stem].abs().sum() > 0  # reaches the backbone
    assert grads[pool + "c_proj.weight"].abs().sum() > 0
    # The pooled vector uses the attention query; dense cells (region/object) do not.
    q = grads[pool + "q_proj.weight"]
    if term == "global":
        assert q is not None and q.abs().sum() > 0
        assert model.logit_scale.grad.abs() > 0
        assert loss_fn.region_logit_scale.grad is None or float(loss_fn.region_logit_scale.grad) == 0.0
    else:
        assert q is None or q.abs().sum() == 0
        scale = loss_fn.region_logit_scale if term == "region" else loss_fn.object_logit_scale
        assert scale.grad is not None and scale.grad.abs() > 0
    text = [n for n, p in model.named_parameters() if not n.startswith("visual.") and n != "logit_scale"]
    assert text and all(grads[n] is None for n in text)  # the locked text tower gets no gradient
