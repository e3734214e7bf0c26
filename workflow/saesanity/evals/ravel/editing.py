"""RAVEL-style causal editing of one SAE with MDBM (arXiv 2602.14111, sec. 5; RAVEL, arXiv 2402.17700).

For each configured attribute pair (A, B) of one entity type a binary mask over the SAE's latents is learned
per attribute (saesanity.evals.ravel.mdbm) on prompts from the training templates, and scored with the hard mask
on prompts from the held-out templates:
- cause_A: patching the masked latents of a source entity into a base prompt of A makes the model output the
  source's value of A (only pairs whose values of A differ);
- iso_AB: with A's mask, a base prompt of B still gets the base's value of B (only pairs whose values of B
  differ, so that a leak of the source's B would show);
- score = mean over pairs of (cause_A + cause_B + iso_AB + iso_BA) / 4.

The intervention sites are the entity's last token at the SAE's hook (RAVEL), or that token and every later
one (`sites`, see PromptModel); the answer is the argmax next token at the prompt's last position, compared with the value's first token. Only prompts the unpatched model answers
right are used as bases, and only entities whose value of an attribute the model knows (right on at least
half of their prompts of it) are sources or bases of that attribute: otherwise a failed edit could be the
model's ignorance rather than the SAE's.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from saesanity.atomic import atomic_path, write_json
from saesanity.config import _check
from saesanity.evals.ravel.mdbm import Examples, MaskTraining, accuracy, hard_mask, hits, pair_score, train_mask
from saesanity.evals.ravel.data import AttributeData, load_ravel, load_toyworld
from saesanity.lm.model import LanguageModel, ModelSpec, load_model, pad_batch

TRAIN, HELDOUT = "train", "heldout"
SITES = ("entity", "entity_to_end")


@dataclass(frozen=True)
class RavelConfig:
    """evals.ravel of the config (workflow/schemas/config.schema.yaml)."""

    data: str = "toyworld"
    """'toyworld' (the corpus's prompts.parquet and entities.parquet) or 'ravel' (RAVEL's JSON files in ravel_dir)."""
    ravel_dir: str = ""
    """data 'ravel': the local folder with ravel_<type>_{entity_attributes,attribute_to_prompts,prompt_to_split}.json."""
    pairs: list = field(default_factory=lambda: [["person", "country", "field"], ["person", "country", "gender"],
                                                 ["person", "field", "gender"]])
    """[entity_type, attribute_a, attribute_b] triples; one mask per attribute that occurs in a pair."""
    sites: str = "entity"
    """Where latents are patched: 'entity' (the entity's last token, RAVEL) or 'entity_to_end' (also every
    later token; the source prompt then has the base's template)."""
    max_entities: int | None = None
    """data 'ravel': entities per type, drawn with `seed` (None: all)."""
    max_templates: int | None = None
    """data 'ravel': templates per attribute and split, drawn with `seed` (None: all)."""
    n_train: int = 2048
    """Interchange examples drawn per mask and objective (cause, isolation) from the training templates."""
    n_eval: int = 256
    """Examples drawn per score (cause_A, iso_AB, ...) from the held-out templates."""
    steps: int = 50
    batch_size: int = 32
    """Examples per step, half cause and half isolation."""
    lr: float = 0.01
    temperature_start: float = 1.0
    temperature_end: float = 1e-4
    sparsity: float = 0.01
    """Weight of the mean mask value in the mask's loss (saesanity.evals.ravel.mdbm.MaskTraining)."""
    forward_batch: int = 256
    """Prompts per forward pass when not training."""
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.data in ("toyworld", "ravel"), "data", f"must be 'toyworld' or 'ravel', got {self.data!r}")
        _check(self.sites in SITES, "sites", f"must be one of {list(SITES)}, got {self.sites!r}")
        _check(bool(self.pairs), "pairs", "needs at least one [entity_type, attribute_a, attribute_b]")
        for p in self.pairs:
            _check(isinstance(p, (list, tuple)) and len(p) == 3 and p[1] != p[2], "pairs",
                   f"each pair is [entity_type, attribute_a, attribute_b] with a != b, got {p!r}")
        for key in ("n_train", "n_eval", "forward_batch"):
            _check(getattr(self, key) >= 1, key, f"must be >= 1, got {getattr(self, key)}")
        self.training(0)

    def training(self, salt: int) -> MaskTraining:
        return MaskTraining(self.steps, self.batch_size, self.lr, self.temperature_start, self.temperature_end,
                            self.sparsity, seed=self.seed * 1000 + salt)

    def masked_attributes(self) -> list[tuple[str, str]]:
        """(entity_type, attribute) of every mask, in first-appearance order."""
        return list(dict.fromkeys((t, a) for t, *ab in self.pairs for a in ab))

    def partners(self, etype: str, attr: str) -> list[str]:
        """Attributes whose isolation A's mask is trained for: its partners in the pairs."""
        out = [b for t, a, b in self.pairs if t == etype and a == attr]
        out += [a for t, a, b in self.pairs if t == etype and b == attr]
        return list(dict.fromkeys(out))


def load_attribute_data(cfg: RavelConfig, corpus: str | Path | None) -> AttributeData:
    if cfg.data == "toyworld":
        if not corpus:
            raise ValueError("evals.ravel.data is 'toyworld' but no corpus folder was given")
        return load_toyworld(corpus)
    types = list(dict.fromkeys(t for t, _, _ in cfg.pairs))
    return load_ravel(cfg.ravel_dir, types, cfg.max_entities, cfg.max_templates, cfg.seed)


class PromptModel:
    """The language model on a fixed list of prompts: tokens, intervention sites and the patched forward.

    Sites: 'entity' is the entity's last token (RAVEL's site); 'entity_to_end' adds every later token,
    where a shallow model may already have moved what it read from the entity (a source prompt then has
    the base's template, so that site k of both is the same word)."""

    def __init__(self, lm: LanguageModel, hook: str, prompts: list[dict[str, Any]], sites: str, forward_batch: int):
        self.lm, self.hook, self.forward_batch = lm, hook, forward_batch
        lm.check_hook(hook)
        ids = [lm.encode(p["prompt"]) for p in prompts]
        entity_P = torch.tensor([len(lm.encode(p["prompt"][:p["entity_end"]])) - 1 for p in prompts])
        self.last_P = torch.tensor([len(s) - 1 for s in ids])
        if bool((entity_P > self.last_P).any()) or bool((entity_P < 1).any()):
            raise ValueError("an entity lies beyond the context length or is not tokenized after BOS")
        n_P = self.last_P - entity_P + 1 if sites == "entity_to_end" else torch.ones_like(entity_P)
        k = torch.arange(int(n_P.max()))
        self.valid_PK = k[None, :] < n_P[:, None]
        # Padding sites point one past the longest prompt: a column that patched_logits drops.
        self.site_PK = torch.where(self.valid_PK, entity_P[:, None] + k[None, :], len(k) + int(self.last_P.max()))
        self.tokens_PT = pad_batch(ids, lm.pad_id)
        self._ids = ids
        self._resid_PTD: torch.Tensor | None = None
        """The activations at the hook of every prompt, kept by site_activations when the model can resume
        from the hook: mask training then runs only the layers after it."""
        self.x_PKD: torch.Tensor | None = None
        self.clean_P: torch.Tensor | None = None
        """run_clean's results: the activations at every site, and the unpatched model's next token."""

    def answer_token(self, i: int, value: str, prompt: str) -> int:
        """The first token of `value` continuing prompt i: a space before it unless the prompt ends in one
        or in an opening quote or bracket (RAVEL's JSON-style templates)."""
        sep = "" if prompt[-1:].isspace() or prompt[-1:] in "\"'([{" else " "
        full = self.lm.encode(prompt + sep + value, n_ctx=len(self._ids[i]) + 1)
        if len(full) <= len(self._ids[i]) or full[:len(self._ids[i])] != self._ids[i]:
            raise ValueError(f"answer {value!r} does not tokenize as a continuation of {prompt!r}")
        return full[len(self._ids[i])]

    def _rows(self, base_B: torch.Tensor) -> torch.Tensor:
        return self.tokens_PT[base_B, : int(self.last_P[base_B].max()) + 1]

    def _batches(self):
        for i in range(0, len(self.last_P), self.forward_batch):
            yield torch.arange(i, min(i + self.forward_batch, len(self.last_P)))

    @torch.no_grad()
    def site_activations(self) -> torch.Tensor:
        """[P, K, D] activations at the hook at every site; 0 at padding sites."""
        out, resid = [], []
        for idx in self._batches():
            act_BTD = self.lm.activations(self._rows(idx), self.hook)
            pos_BK = self.site_PK[idx].clamp(max=act_BTD.shape[1] - 1)
            x_BKD = act_BTD[torch.arange(len(idx))[:, None], pos_BK.to(act_BTD.device)].float().cpu()
            out.append(x_BKD * self.valid_PK[idx, :, None])
            resid.append(F.pad(act_BTD, (0, 0, 0, self.tokens_PT.shape[1] - act_BTD.shape[1])))
        if self.lm.resumes_at(self.hook):
            self._resid_PTD = torch.cat(resid)
        return torch.cat(out)

    @torch.no_grad()
    def clean_predictions(self) -> torch.Tensor:
        """The model's next token after every prompt; from the kept hook activations where site_activations
        kept them (the layers before the hook are not run twice)."""
        out = []
        for idx in self._batches():
            if self._resid_PTD is not None:
                T = int(self.last_P[idx].max()) + 1
                logits_BV = self.lm.logits_from(self._resid_PTD[idx.to(self._resid_PTD.device), :T], self.hook,
                                                at_B=self.last_P[idx])
            else:
                logits = self.lm.logits(self._rows(idx))
                logits_BV = logits[torch.arange(len(idx)), self.last_P[idx].to(logits.device)]
            out.append(logits_BV.argmax(-1).cpu())
        return torch.cat(out)

    def run_clean(self) -> None:
        """The work that depends on the model and the prompts alone, not on an SAE: done once per model and
        hook by prepare_ravel (rule ravel_prep) and restored for every SAE with load_clean."""
        self.x_PKD = self.site_activations()
        self.clean_P = self.clean_predictions()

    def clean_state(self) -> dict[str, torch.Tensor]:
        state = {"x_PKD": self.x_PKD, "clean_P": self.clean_P}
        return state if self._resid_PTD is None else {**state, "resid_PTD": self._resid_PTD}

    def load_clean(self, state: dict[str, torch.Tensor]) -> None:
        """run_clean's results as clean_state gave them (tensors of the same prompts, model and hook)."""
        n_P, n_K = self.valid_PK.shape
        if tuple(state["x_PKD"].shape[:2]) != (n_P, n_K) or tuple(state["clean_P"].shape) != (n_P,):
            raise ValueError(f"the RAVEL preparation has {tuple(state['x_PKD'].shape[:2])} prompts x sites, "
                             f"these prompts {(n_P, n_K)}: rebuild it (rule ravel_prep) for the same settings")
        self.x_PKD, self.clean_P = state["x_PKD"], state["clean_P"]
        resid = state.get("resid_PTD")
        self._resid_PTD = None if resid is None else resid.to(self.lm.device)

    def patched_logits(self, base_B: torch.Tensor, delta_BKD: torch.Tensor) -> torch.Tensor:
        tokens_BT = self._rows(base_B)
        B, T = tokens_BT.shape
        pos_BK = self.site_PK[base_B].clamp(max=T)

        def add_delta(act_BTD: torch.Tensor) -> torch.Tensor:
            full = act_BTD.new_zeros(B, T + 1, act_BTD.shape[-1])
            # scatter_add, not indexed assignment: padding sites share the dropped column T.
            full = full.scatter_add(1, pos_BK.to(act_BTD.device)[..., None].expand(-1, -1, act_BTD.shape[-1]),
                                    delta_BKD.to(act_BTD.device, act_BTD.dtype))
            return act_BTD + full[:, :T]

        if self._resid_PTD is not None:
            return self.lm.logits_from(add_delta(self._resid_PTD[base_B.to(self._resid_PTD.device), :T]), self.hook,
                                       at_B=self.last_P[base_B]).float().cpu()
        logits = self.lm.logits_with(tokens_BT, self.hook, add_delta)
        return logits[torch.arange(B), self.last_P[base_B].to(logits.device)].float().cpu()


class ExampleBuilder:
    """Draws interchange examples (base prompt, source prompt, target token) from the usable prompts."""

    def __init__(self, data: AttributeData, model: PromptModel, correct_P: np.ndarray, same_template: bool):
        self.data, self.model, self.same_template = data, model, same_template
        prompts = data.prompts
        by_key: dict[tuple, list[int]] = defaultdict(list)  # (type, attr, split, entity) -> prompt indices
        self.by_template = {}
        for i, p in enumerate(prompts):
            by_key[(p["entity_type"], p["attribute"], p["template_split"], p["entity"])].append(i)
            self.by_template[(p["template_id"], p["entity"])] = i
        self.by_key = by_key
        # Whether the model knows an entity's value of an attribute, over both splits.
        right: dict[tuple, list[bool]] = defaultdict(list)
        for i, p in enumerate(prompts):
            right[(p["entity_type"], p["entity"], p["attribute"])].append(bool(correct_P[i]))
        self.known = {k for k, v in right.items() if 2 * sum(v) >= len(v)}
        self.correct_P = correct_P
        self._tokens: dict[tuple[int, str], int] = {}

    def _token(self, i: int, value: str) -> int:
        key = (i, value)
        if key not in self._tokens:
            self._tokens[key] = self.model.answer_token(i, value, self.data.prompts[i]["prompt"])
        return self._tokens[key]

    def _sources(self, base: int, entity: str, source_attrs: list[str], split: str, etype: str) -> list[int]:
        if self.same_template:
            i = self.by_template.get((self.data.prompts[base]["template_id"], entity))
            return [] if i is None else [i]
        return [i for a in source_attrs for i in self.by_key.get((etype, a, split, entity), []) if self.correct_P[i]]

    def examples(self, etype: str, read: str, split: str, source_attrs: list[str], expect: str, n: int,
                 rng: np.random.Generator) -> Examples:
        """`n` examples whose base prompt asks for attribute `read` and whose source entity has a different
        value of it (a different first token); target: the source's value (expect='source', cause) or the base's (expect='base',
        isolation). The source prompt is the base's template with the source entity (same_template), else
        any right-answered prompt of the source entity about one of `source_attrs` in the same split
        (RAVEL draws source prompts from all templates of the entity type)."""
        knows = [e for e in sorted(self.data.entities[etype]) if (etype, e, read) in self.known]
        value = {e: self.data.value(etype, e, read) for e in knows}
        bases = [i for e in knows for i in self.by_key.get((etype, read, split, e), []) if self.correct_P[i]]
        options = {}
        for b in bases:
            # Values differ where the scored token (their first) differs: "United States" and "United Kingdom"
            # both begin " United", so an edit between them could change nothing and still count as a cause.
            base_token = self._token(b, value[self.data.prompts[b]["entity"]])
            opts = [(e, s) for e in knows if self._token(b, value[e]) != base_token
                    for s in self._sources(b, e, source_attrs, split, etype)]
            if opts:
                options[b] = opts
        if not options:
            return Examples(*(torch.zeros(0, dtype=torch.long) for _ in range(3)))
        bases = sorted(options)
        rows = []
        for b in rng.choice(bases, n).tolist():
            e_s, s = options[b][int(rng.integers(len(options[b])))]
            target_entity = e_s if expect == "source" else self.data.prompts[b]["entity"]
            rows.append((b, s, self._token(b, value[target_entity])))
        return Examples(*(torch.tensor(c) for c in zip(*rows)))


def ravel_scores(model: PromptModel, z_PKF: torch.Tensor, W_dec_FD: torch.Tensor, data: AttributeData,
                 cfg: RavelConfig) -> dict[str, Any]:
    """Masks for every attribute in cfg.pairs, then the pair scores; everything seeded by cfg.seed."""
    if model.clean_P is None:
        model.run_clean()
    correct_P = (model.clean_P == torch.tensor(
        [model.answer_token(i, p["answer"], p["prompt"]) for i, p in enumerate(data.prompts)])).numpy()
    asked = {(p["entity_type"], p["attribute"]) for p in data.prompts}
    for etype, attr in cfg.masked_attributes():
        if (etype, attr) not in asked:
            raise ValueError(f"evals.ravel.pairs: the data have no prompts about {etype}.{attr}; "
                             f"known: {sorted('.'.join(k) for k in asked)}")
    build = ExampleBuilder(data, model, correct_P, same_template=cfg.sites == "entity_to_end")
    masks, evals = {}, {}
    for salt, (etype, attr) in enumerate(cfg.masked_attributes()):
        partners = cfg.partners(etype, attr)
        rng = np.random.default_rng([cfg.seed, salt])
        src_attrs = [attr, *partners]
        cause = build.examples(etype, attr, TRAIN, src_attrs, "source", cfg.n_train, rng)
        iso = Examples.cat([build.examples(etype, b, TRAIN, src_attrs, "base", cfg.n_train // len(partners), rng)
                            for b in partners])
        ev_cause = build.examples(etype, attr, HELDOUT, src_attrs, "source", cfg.n_eval, rng)
        ev_iso = {b: build.examples(etype, b, HELDOUT, src_attrs, "base", cfg.n_eval, rng) for b in partners}
        if len(cause) == 0:
            # No right-answered base with a differing, known source value (e.g. a barely trained model): the
            # mask cannot be trained and its scores are undefined (null), not zero.
            print(f"eval-ravel: no training example for {etype}.{attr}; its scores are null", file=sys.stderr)
            masks[(etype, attr)] = None
            evals.update({(etype, attr, r): torch.zeros(0, dtype=torch.bool) for r in [attr, *partners]})
            continue
        mask_F = hard_mask(train_mask(z_PKF, W_dec_FD, model.patched_logits, cause, iso, cfg.training(salt)))
        masks[(etype, attr)] = mask_F
        for read, ex in [(attr, ev_cause), *ev_iso.items()]:
            evals[(etype, attr, read)] = hits(z_PKF, W_dec_FD, model.patched_logits, ex, mask_F, cfg.forward_batch)
    pairs = []
    for etype, a, b in cfg.pairs:
        parts = {"cause_a": evals[(etype, a, a)], "cause_b": evals[(etype, b, b)],
                 "iso_ab": evals[(etype, a, b)], "iso_ba": evals[(etype, b, a)]}
        accuracies = {k: accuracy(v) for k, v in parts.items()}
        pairs.append({"entity_type": etype, "attribute_a": a, "attribute_b": b,
                      **accuracies, **{f"n_{k}": len(v) for k, v in parts.items()},
                      "score": pair_score(*accuracies.values()),
                      # Each held-out example's hit (1) or miss (0): the items of the sanity verdict's bootstrap
                      # (saesanity.sanity.intervals); the examples are drawn from the clean model's answers and
                      # the configured seed, not from the SAE, so every SAE is scored on the same ones.
                      "hits": {k: v.int().tolist() for k, v in parts.items()}})
    return {"pairs": pairs, "masks": [{"entity_type": t, "attribute": a, "n_kept": None if m is None else int(m.sum())}
                                      for (t, a), m in masks.items()],
            "clean_accuracy": float(correct_P.mean()), "n_prompts": len(data.prompts)}


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


PREP_TENSORS, PREP_JSON = "clean.safetensors", "prep.json"


def _prompt_model(model: ModelSpec, hook: str, cfg: RavelConfig, corpus: str | Path | None
                  ) -> tuple[AttributeData, PromptModel]:
    data = load_attribute_data(cfg, corpus)
    # Only the mask is trained: the model's own weights need no gradient.
    lm = load_model(model)
    lm.model.requires_grad_(False)
    return data, PromptModel(lm, hook, data.prompts, cfg.sites, cfg.forward_batch)


def prepare_ravel(model: ModelSpec, hook: str, cfg: RavelConfig, corpus: str | Path | None, out: str | Path) -> None:
    """The prompts' activations at the hook and the clean model's answers, once per model and hook (rule
    ravel_prep), so that each SAE's eval_ravel runs only the layers after the hook, for its masks."""
    data, prompts = _prompt_model(model, hook, cfg, corpus)
    prompts.run_clean()
    with atomic_path(out) as tmp:
        tmp.mkdir()
        save_file({k: v.detach().cpu().contiguous() for k, v in prompts.clean_state().items()},
                  str(tmp / PREP_TENSORS))
        write_json(tmp / PREP_JSON, {"model": prompts.lm.name, "hook": hook, "n_prompts": len(data.prompts),
                                     "sites": cfg.sites})


def ravel_metrics(sae_dir: str | Path, model: ModelSpec, hook: str, cfg: RavelConfig,
                  corpus: str | Path | None = None, prep: str | Path | None = None) -> dict[str, Any]:
    """The ravel.json record of one SAE (docs/design.md, Contracts): identity, score, cause, isolation, pairs,
    masks. `prep`: prepare_ravel's folder for the same model, hook and prompts (else its work is done here)."""
    from saesanity.evals.identity import sae_identity
    from saesanity.sae.io import load_sae
    data, prompts = _prompt_model(model, hook, cfg, corpus)
    lm = prompts.lm
    if prep is None:
        prompts.run_clean()
    else:
        prompts.load_clean(load_file(str(Path(prep) / PREP_TENSORS)))
    # Latents, decoder and mask live on the model's device: with a wide SAE the edit is a large matmul.
    sae = load_sae(sae_dir).to(lm.device).requires_grad_(False)
    x_PKD = prompts.x_PKD
    z_PKF = torch.zeros(*x_PKD.shape[:2], sae.cfg.d_sae, device=lm.device)
    with torch.no_grad():
        z_PKF[prompts.valid_PK.to(lm.device)] = sae.encode(x_PKD[prompts.valid_PK].to(lm.device)).float()
    out = ravel_scores(prompts, z_PKF, sae.W_dec.detach().float(), data, cfg)
    pairs = out["pairs"]
    return {**sae_identity(sae_dir), "hook": hook, **out,
            "score": _mean([p["score"] for p in pairs]),
            "cause": _mean([p[k] for p in pairs for k in ("cause_a", "cause_b")]),
            "isolation": _mean([p[k] for p in pairs for k in ("iso_ab", "iso_ba")]),
            "mean_kept": _mean([m["n_kept"] for m in out["masks"]])}
