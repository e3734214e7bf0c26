"""Architecture name -> SAE class. A new architecture is one file plus one line here."""

from __future__ import annotations

from saesanity.config import ConfigError, SAEConfig
from saesanity.sae.base import SAE
from saesanity.sae.batchtopk import BatchTopKSAE
from saesanity.sae.jumprelu import JumpReLUSAE
from saesanity.sae.relu import ReLUSAE
from saesanity.sae.topk import TopKSAE

ARCHITECTURES: dict[str, type[SAE]] = {cls.arch: cls for cls in (ReLUSAE, TopKSAE, BatchTopKSAE, JumpReLUSAE)}


def build_sae(cfg: SAEConfig) -> SAE:
    if cfg.arch not in ARCHITECTURES:
        raise ConfigError(f"arch: unknown architecture {cfg.arch!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[cfg.arch](cfg)
