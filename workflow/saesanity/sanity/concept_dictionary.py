"""The sanity check's positive control on the toy world: an SAE built from the world's known concepts. A check
that cannot rank it above random baselines cannot pass a good SAE either, so a metric on which it does not beat
them has no power on this model (saesanity.sanity.verdict).

One JumpReLU latent per concept of the concept check (a word's tag, its value, the token itself;
saesanity.evals.autointerp.concepts), the most frequent first when there are more concepts than latents:
- encoder: the concept check's ideal detector (saesanity.evals.autointerp.reference: Fisher's discriminant
  w = (Sigma + ridge)^-1 (mean(x | c) - mean(x | not c)) on the training tokens, firing above its F1-best
  threshold t), so the latent fires exactly where the detector does, with value s - t + 1 (s the score in
  units of its standard deviation);
- decoder and b_dec: least squares of the activations on those latents and a constant (ridge 1e-6 of the
  mean diagonal on the latents), rows then scaled to unit norm with the inverse factor on the latent (JumpReLU
  is positively homogeneous, so nothing changes but the layout);
- latents beyond the concepts, or whose detector never fires, never fire (encoder row 0, threshold 1) and
  keep a random unit decoder row.
Its L0 is whatever the detectors give (the world's concepts per token, about 1.5 on the default toy world):
not calibrated to the SAE's, and recorded as its target so the held-out L0 check holds it to that."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from saesanity.config import CONCEPT_DICTIONARY, SAEConfig
from saesanity.data.store import ActivationStore
from saesanity.evals.autointerp.concepts import concept_matrix
from saesanity.evals.autointerp.contexts import StoreIndex, TokenLabels
from saesanity.evals.autointerp.reference import fisher_detectors
from saesanity.evals.identity import SANITY
from saesanity.sae.io import save_sae
from saesanity.sae.jumprelu import JumpReLUSAE
from saesanity.sae.variants import random_directions

RIDGE = 1e-6
"""Ridge of the decoder's least squares, relative to the mean diagonal of the latents' Gram matrix."""


class NoConcepts(ValueError):
    """The training tokens carry no concept that a detector finds."""


@torch.no_grad()
def concept_dictionary(x_ND: torch.Tensor, c_NK: torch.Tensor, d_sae: int,
                       seed: int = 0) -> tuple[JumpReLUSAE, list[int]]:
    """The positive control from training rows `x_ND` and their [N, K] concept presence `c_NK` (module
    docstring). Returns the SAE and, per latent, the concept column it detects (-1: never fires)."""
    x_ND = x_ND.double()
    n, d = x_ND.shape
    support_K = c_NK.sum(0)
    keep = [int(k) for k in np.argsort(-support_K.numpy(), kind="stable")[:d_sae] if support_K[k] > 0]
    if not keep:
        raise NoConcepts("no concept occurs on the training tokens")
    mean_D = x_ND.mean(0)
    xc_ND = x_ND - mean_D
    W_KD, t_K = fisher_detectors(xc_ND, c_NK[:, keep])
    s_NK = xc_ND @ W_KD.T
    scale_K = s_NK.std(0).clamp_min(torch.finfo(torch.float64).tiny)
    W_KD, t_K, s_NK = W_KD / scale_K[:, None], t_K / scale_K, s_NK / scale_K
    fired_NK = s_NK > t_K
    z_NK = torch.where(fired_NK, s_NK - t_K + 1, torch.zeros_like(s_NK))
    # Decoder and b_dec jointly: b_dec is the activation where no latent fires, not the mean.
    z1_NK = torch.cat([z_NK, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    gram_KK = z1_NK.T @ z1_NK
    ridge = RIDGE * gram_KK.diagonal().mean() * torch.eye(len(keep) + 1, dtype=torch.float64)
    ridge[-1, -1] = 0
    D_KD = torch.linalg.solve(gram_KK + ridge, z1_NK.T @ xc_ND)
    D_KD, b_dec_D = D_KD[:-1], mean_D + D_KD[-1]
    # The encoder reads x - b_dec: its biases absorb the shift, so every latent fires where its detector does.
    shift_K = (mean_D - b_dec_D) @ W_KD.T
    norm_K = D_KD.norm(dim=1)
    live_K = fired_NK.any(0) & (norm_K > 0)
    l0 = float(fired_NK[:, live_K].sum(1).double().mean())
    if l0 <= 0:
        raise NoConcepts("no concept detector fires on the training tokens")

    sae = JumpReLUSAE(SAEConfig("jumprelu", d, d_sae, target_l0=l0, variant=CONCEPT_DICTIONARY, seed=seed))
    W_dec_FD = random_directions(d_sae, d, "iso", torch.Generator().manual_seed(seed)).double()
    W_enc_FD = torch.zeros(d_sae, d, dtype=torch.float64)
    b_enc_F = torch.zeros(d_sae, dtype=torch.float64)
    threshold_F = torch.ones(d_sae, dtype=torch.float64)
    latent_concept = [-1] * d_sae
    for j, (k, live) in enumerate(zip(keep, live_K.tolist())):
        if not live:
            continue
        W_dec_FD[j] = D_KD[j] / norm_K[j]
        W_enc_FD[j] = W_KD[j] * norm_K[j]
        b_enc_F[j] = (1 - t_K[j] - shift_K[j]) * norm_K[j]
        threshold_F[j] = norm_K[j]
        latent_concept[j] = k
    sae.W_dec.copy_(W_dec_FD)
    sae.W_enc_FD.copy_(W_enc_FD)
    sae.b_enc.copy_(b_enc_F)
    sae.threshold.copy_(threshold_F)
    sae.b_dec.copy_(b_dec_D)
    return sae.eval(), latent_concept


def write_concept_dictionary(train: ActivationStore, documents: str | Path, reference: dict, train_tokens: int,
                             out: str | Path) -> dict:
    """The positive control of the sanity check `reference` (its reference.json: name, source, d_sae), from the
    first `train_tokens` rows of the training store and the toy world's documents; returns cfg.json's training
    record (which concept each latent detects, the L0 on the training rows)."""
    index = StoreIndex.read(train, limit=train_tokens)
    labels = TokenLabels.from_corpus(documents, index.doc)
    names, c_NK = concept_matrix(labels.row_concepts(index, np.arange(len(index)), tokens=True))
    x_ND = torch.from_numpy(train.read_all(limit=len(index)))
    sae, latent_concept = concept_dictionary(x_ND, torch.from_numpy(c_NK), int(reference["d_sae"]))
    training = {"tokens_seen": 0, "concept_rows": len(index), "n_concepts": len(names),
                "n_concept_latents": sum(k >= 0 for k in latent_concept), "train_l0": sae.cfg.target_l0,
                "latent_concepts": [names[k] if k >= 0 else None for k in latent_concept]}
    save_sae(sae, out, metadata={"source": reference["source"], SANITY: reference["name"]}, training=training)
    return training
