"""The sanity check's positive control (saesanity.sanity.concept_dictionary) on planted data: concepts along
known directions, so each latent must fire where its concept is present and the decoder must find its
direction."""

from __future__ import annotations

import pytest
import torch

from saesanity.config import CONCEPT_DICTIONARY
from saesanity.sanity.concept_dictionary import NoConcepts, concept_dictionary


def planted(n: int = 6000, d: int = 24, k: int = 10, seed: int = 0):
    """Rows x = offset + sum over present concepts of (1 + |g|) u_c + noise 0.05; concept c present with
    probability 0.03 (c + 1), so the supports differ and their order is known."""
    gen = torch.Generator().manual_seed(seed)
    u_KD = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))[0][:k]
    p_K = 0.03 * torch.arange(1, k + 1, dtype=torch.float64)
    c_NK = torch.rand(n, k, generator=gen, dtype=torch.float64) < p_K
    a_NK = c_NK * (1 + torch.randn(n, k, generator=gen, dtype=torch.float64).abs())
    x_ND = 3.0 + a_NK @ u_KD + 0.05 * torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x_ND, c_NK, u_KD


def f1(fired: torch.Tensor, truth: torch.Tensor) -> float:
    tp = (fired & truth).sum().item()
    return 2 * tp / (fired.sum().item() + truth.sum().item())


def test_each_latent_fires_on_its_concept_and_decodes_along_it():
    x_ND, c_NK, u_KD = planted()
    sae, latent_concept = concept_dictionary(x_ND, c_NK, d_sae=16)
    assert sae.cfg.variant == CONCEPT_DICTIONARY and sae.cfg.arch == "jumprelu" and sae.cfg.d_sae == 16
    # The most frequent concept first; the six latents beyond the ten concepts never fire.
    assert latent_concept == list(range(9, -1, -1)) + [-1] * 6
    with torch.no_grad():
        z_NF = sae.encode(x_ND.float())
        x_hat_ND = sae.decode(z_NF).double()
    for j, k in enumerate(latent_concept[:10]):
        assert f1(z_NF[:, j] > 0, c_NK[:, k]) > 0.97, (j, k)
        assert torch.dot(sae.W_dec[j].double(), u_KD[k]).item() > 0.999, (j, k)
    assert not (z_NF[:, 10:] > 0).any()
    torch.testing.assert_close(sae.W_dec.norm(dim=1), torch.ones(16))
    # Its L0 is the concepts' own, recorded as its target.
    l0 = (z_NF > 0).sum(1).double().mean().item()
    assert l0 == pytest.approx(c_NK.sum(1).double().mean().item(), rel=0.05)
    assert sae.cfg.target_l0 == pytest.approx(l0, rel=0.02)
    resid = ((x_ND - x_hat_ND) ** 2).sum() / ((x_ND - x_ND.mean(0)) ** 2).sum()
    assert 1 - resid.item() > 0.98


def test_more_concepts_than_latents_keeps_the_most_frequent():
    x_ND, c_NK, _ = planted()
    _, latent_concept = concept_dictionary(x_ND, c_NK, d_sae=4)
    assert latent_concept == [9, 8, 7, 6]


def test_no_concept_is_refused():
    x_ND, c_NK, _ = planted()
    with pytest.raises(NoConcepts, match="no concept occurs"):
        concept_dictionary(x_ND, torch.zeros_like(c_NK), d_sae=8)
