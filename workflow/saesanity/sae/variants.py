"""The random baselines of arXiv 2602.14111, section 4, and the shared initialisation.

Every variant of one seed starts from the same random dictionary W (d_sae unit rows): W_dec = W and
W_enc = W^T; b_dec = the data mean, b_enc = 0. The variant then decides what is trained:
  trained                 everything;
  frozen_decoder-{init}   W_dec fixed at W; encoder, biases (and thresholds) trained;
  frozen_encoder-{init}   W_enc fixed at W^T; decoder, biases and thresholds trained, the decoder rows free
                          in norm (see `decoder_unit_norm`);
  soft_frozen_decoder-{init}
                          everything trained, but after every step each decoder row is projected back
                          into the cone of cosine >= tau (0.8) around its initial direction.
init 'iso' draws rows uniformly on the unit sphere; 'cov' draws them from N(0, Sigma) with Sigma the
covariance of the training activations, then normalises them.

On synthetic data two ceilings start from the true dictionary F instead (init 'truth'; not in the paper):
  frozen_decoder-truth    W_dec fixed at F; the encoder, biases and thresholds trained: how well an SAE can
                          reconstruct at this L0 once its decoder is exactly right;
  frozen_both-truth       W_dec = F and W_enc = F^T, both fixed; biases and thresholds trained.
"""

from __future__ import annotations

import torch

from saesanity.sae.base import SAE


def random_directions(n: int, d: int, init: str, generator: torch.Generator,
                      cov_DD: torch.Tensor | None = None) -> torch.Tensor:
    """[n, d] unit rows: uniform on the sphere ('iso') or normalised N(0, cov) draws ('cov')."""
    g_ND = torch.randn(n, d, generator=generator, dtype=torch.float64)
    if init == "cov":
        if cov_DD is None:
            raise ValueError("init 'cov' needs the covariance of the training activations")
        # Cholesky of Sigma (jittered: activations can be rank-deficient) maps N(0, I) to N(0, Sigma).
        jitter = 1e-6 * cov_DD.diagonal().mean().clamp_min(1e-12)
        L_DD = torch.linalg.cholesky(cov_DD.double() + jitter * torch.eye(d, dtype=torch.float64))
        g_ND = g_ND @ L_DD.T
    elif init != "iso":
        raise ValueError(f"unknown init {init!r}; expected 'iso' or 'cov'")
    return (g_ND / g_ND.norm(dim=1, keepdim=True)).float()


@torch.no_grad()
def initialise(sae: SAE, mean_D: torch.Tensor, cov_DD: torch.Tensor | None,
               sample_ND: torch.Tensor | None = None, truth_FD: torch.Tensor | None = None) -> torch.Tensor:
    """Shared init for `sae.cfg.seed` (`init_seed` where set) and `sae.cfg.init`, calibrated on `sample_ND`
    where the architecture needs it; freezes per variant. Init 'truth' takes the rows of `truth_FD` (unit
    rows, one per latent). Returns the initial W_dec."""
    cfg = sae.cfg
    if cfg.init == "truth":
        if truth_FD is None or tuple(truth_FD.shape) != (cfg.d_sae, cfg.d_in):
            raise ValueError(f"variant {cfg.variant} needs the true dictionary as [d_sae, d_in] = "
                             f"[{cfg.d_sae}, {cfg.d_in}]; got {None if truth_FD is None else list(truth_FD.shape)}")
        W_FD = (truth_FD / truth_FD.norm(dim=1, keepdim=True)).float()
    else:
        gen = torch.Generator().manual_seed(cfg.seed if cfg.init_seed is None else cfg.init_seed)
        W_FD = random_directions(cfg.d_sae, cfg.d_in, cfg.init, gen, cov_DD)
    sae.W_dec.copy_(W_FD)
    sae.W_enc.copy_(W_FD.T)
    sae.b_dec.copy_(mean_D)
    sae.b_enc.zero_()
    sae.init_extra()
    if sample_ND is not None:
        sae.calibrate(sample_ND)
    if cfg.variant_kind in ("frozen_decoder", "frozen_both"):
        sae.W_dec.requires_grad_(False)
    if cfg.variant_kind in ("frozen_encoder", "frozen_both"):
        sae.W_enc_FD.requires_grad_(False)
    return W_FD.clone()


def decoder_is_trained(sae: SAE) -> bool:
    return sae.W_dec.requires_grad


def decoder_unit_norm(sae: SAE) -> bool:
    """Whether the trainer keeps decoder rows at unit norm. For an SAE whose encoder trains, unit rows are a
    reparametrisation (the encoder carries each latent's scale). With the encoder frozen they are not: a
    latent's size is then the random projection the frozen encoder gives, and only the decoder row's norm
    can turn it into the right amount of its direction; held at 1, no latent can learn a gain, and the
    reconstruction can end worse than the mean (EV < 0). arXiv 2602.14111 trains the Frozen Encoder's
    "decoder, biases and thresholds", so its decoder rows are left free: the best decoder is then never
    worse than W_dec = 0, b_dec = the mean (EV 0)."""
    return decoder_is_trained(sae) and sae.cfg.variant_kind != "frozen_encoder"


@torch.no_grad()
def remove_parallel_grad(sae: SAE) -> None:
    """Drops the gradient component along each decoder row, which would only change its norm (the rows are
    renormalised after the step anyway); as in Bricken et al. 2023 and SAELens."""
    W_FD, g_FD = sae.W_dec, sae.W_dec.grad
    if g_FD is None:
        return
    # One batched dot product per row and one in-place pass, instead of two [d_sae, d_in] temporaries.
    dots_F11 = torch.bmm(g_FD.unsqueeze(1), W_FD.unsqueeze(2))
    g_FD.addcmul_(dots_F11.view(-1, 1), W_FD, value=-1)


@torch.no_grad()
def project_to_cone(W_FD: torch.Tensor, W0_FD: torch.Tensor, tau: float) -> torch.Tensor:
    """In place: each unit row w of W whose cosine with its unit anchor u is below tau becomes the nearest
    unit vector of the cone, tau * u + sqrt(1 - tau^2) * v, v the unit part of w orthogonal to u.
    Returns which rows were moved (bool [F])."""
    cos_F = (W_FD * W0_FD).sum(1)
    outside_F = cos_F < tau
    if not outside_F.any():
        return outside_F
    w, u, c = W_FD[outside_F], W0_FD[outside_F], cos_F[outside_F].unsqueeze(1)
    v = w - c * u
    v_norm = v.norm(dim=1, keepdim=True)
    # A row exactly opposite its anchor has no orthogonal part; any orthogonal direction will do.
    degenerate = v_norm.squeeze(1) < 1e-8
    if degenerate.any():
        e = torch.zeros_like(u[degenerate])
        e[torch.arange(len(e)), u[degenerate].abs().argmin(1)] = 1.0
        v[degenerate] = e - (e * u[degenerate]).sum(1, keepdim=True) * u[degenerate]
        v_norm = v.norm(dim=1, keepdim=True)
    W_FD[outside_F] = tau * u + (1 - tau * tau) ** 0.5 * (v / v_norm)
    return outside_F


@torch.no_grad()
def constrain_decoder(sae: SAE, W0_FD: torch.Tensor) -> torch.Tensor | None:
    """After a step: unit-norm decoder rows (`decoder_unit_norm`), inside the cone for the soft-frozen
    variant. Returns the rows the cone moved (bool [F]) for the soft-frozen variant, else None."""
    if not decoder_unit_norm(sae):
        return None
    sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if sae.cfg.variant_kind == "soft_frozen_decoder":
        return project_to_cone(sae.W_dec, W0_FD, sae.cfg.soft_frozen_tau)
    return None


@torch.no_grad()
def dictionary_geometry(W_FD: torch.Tensor, max_rows: int = 4096) -> dict[str, float]:
    """How spread a dictionary's rows are: the effective rank of W (participation ratio of its squared
    singular values, (sum s^2)^2 / sum s^4: d for rows spread evenly over R^d, 1 for rows on one line) and
    the mean |cosine| between distinct rows (over the first `max_rows` rows: the rows are i.i.d. draws)."""
    U_FD = W_FD.double() / W_FD.double().norm(dim=1, keepdim=True).clamp_min(1e-12)
    eig_D = torch.linalg.eigvalsh(U_FD.T @ U_FD).clamp_min(0)
    sub = U_FD[:max_rows]
    cos_FF = (sub @ sub.T).abs()
    n = len(sub)
    off_diag = (cos_FF.sum() - cos_FF.diagonal().sum()) / max(1, n * (n - 1))
    return {"effective_rank": float(eig_D.sum() ** 2 / eig_D.pow(2).sum()), "mean_abs_cos": float(off_diag)}
