"""The sanity check of SAEs from elsewhere (config `sanity`): which SAEs, where they come from, and the keys of
each one's matched random baselines (arXiv 2602.14111, sec. 6: every new SAE should be checked against the
Frozen Decoder, Soft-Frozen Decoder and Frozen Encoder baselines). Read when Snakemake builds the DAG, so no
torch here: an SAE's shape comes from its config files (saesanity.external.describe)."""

from __future__ import annotations

from dataclasses import dataclass

from saesanity.config import CONCEPT_DICTIONARY, TRAINED_CONTROL, UNTRAINED
from saesanity.external.describe import ExternalInfo, ExternalSAEError, describe
from saesanity.pipeline.jobs import SAEKey, is_toyworld, lm_d_model
from saesanity.pipeline.paths import EXTERNAL_SEED, external_example_dir


class SanityConfigError(ValueError):
    """A `sanity.saes` entry cannot be checked; the message names the SAE and the problem."""


@dataclass(frozen=True)
class SanitySAE:
    name: str
    info: ExternalInfo
    """Format, architecture and shape: read from the SAE's own files, or for an example from the config."""
    hook: str
    example: dict | None
    """`sanity.saes[].example`: the pipeline's own trained SAE written by a library (the offline demonstration)."""
    train_tokens: int | None = None
    """`sanity.saes[].train_tokens`: the SAE's own training budget, which its baselines then train on."""

    def source(self, config: dict) -> str:
        return f"{config['lm']['name']}-{self.hook}"

    def key(self, config: dict, variant: str = "trained", seed: int = EXTERNAL_SEED) -> SAEKey:
        return SAEKey(self.source(config), self.info.arch, variant, seed, sanity=self.name)

    def keys(self, config: dict) -> list[SAEKey]:
        """The imported SAE, its negative control (an untrained SAE of its architecture, width and L0: can the
        check fail an SAE?), its positive controls (with `sanity.trained_control`, the same shape trained to
        convergence: can reconstruction pass one? On the toy world the known concepts as an SAE: can the concept
        metrics?), then each baseline at each of `sanity.seeds`."""
        block = config["sanity"]
        controls = [UNTRAINED] + [TRAINED_CONTROL] * bool(block["trained_control"]) + (
            [CONCEPT_DICTIONARY] if is_toyworld(config) else [])
        return [self.key(config)] + [self.key(config, c) for c in controls] + [
            self.key(config, v, s) for v in block["baselines"] for s in block["seeds"]]

    def example_source_key(self, config: dict) -> SAEKey:
        """The trained SAE an example is written from."""
        return SAEKey(self.source(config), self.example["arch"], "trained", self.example["seed"])


def _example_info(config: dict, name: str, example: dict, hook: str) -> ExternalInfo:
    """What describe() will read once sanity_example has written the example: the pipeline's trained SAE."""
    group = config["saes"]["lm"]
    k = group["target_l0"] if example["arch"] in ("topk", "batchtopk") else None
    return ExternalInfo(folder=external_example_dir(name), format=example["format"], arch=example["arch"],
                        d_in=lm_d_model(config), d_sae=group["d_sae"], k=k, model=config["lm"]["name"], hook=hook)


def _hook(config: dict, entry: dict, info: ExternalInfo | None) -> str:
    hooks = config["lm"]["hooks"]
    hook = entry.get("hook") or (info.hook if info else None)
    if hook is None:
        if len(hooks) > 1:
            raise SanityConfigError(f"sanity SAE {entry['name']!r}: its files name no hook and lm.hooks has "
                                    f"several ({hooks}); set sanity.saes[].hook")
        hook = hooks[0]
    if hook not in hooks:
        raise SanityConfigError(f"sanity SAE {entry['name']!r}: hook {hook!r} is not harvested; lm.hooks is {hooks} "
                                "(add it there, or set sanity.saes[].hook to the lm.hooks name of its hook)")
    return hook


def sanity_saes(config: dict) -> list[SanitySAE]:
    out = []
    for entry in config.get("sanity", {}).get("saes", []):
        example = entry.get("example")
        if example is not None:
            example = {"seed": 0, **example}
            hook = _hook(config, entry, None)
            info = _example_info(config, entry["name"], example, hook)
        else:
            try:
                info = describe(entry["path"])
            except ExternalSAEError as err:
                raise SanityConfigError(f"sanity SAE {entry['name']!r}: {err}") from None
            hook = _hook(config, entry, info)
        out.append(SanitySAE(entry["name"], info, hook, example, entry.get("train_tokens")))
    return out


def sanity_sae(config: dict, name: str) -> SanitySAE:
    for s in sanity_saes(config):
        if s.name == name:
            return s
    raise KeyError(f"no SAE named {name!r} in sanity.saes")


def check_sanity(config: dict) -> None:
    """What can be refused before any job runs: names, hooks, the model, d_in against the hook's width, and
    (for SAEs already on disk) unreadable, NaN or misshapen weights, each naming the SAE."""
    saes = sanity_saes(config)
    names = [s.name for s in saes]
    if len(set(names)) != len(names):
        raise SanityConfigError(f"sanity.saes: names must be unique, got {names}")
    if "trained" in config["sanity"]["baselines"]:
        raise SanityConfigError("sanity.baselines: 'trained' is the SAE under test, not a baseline")
    if config["saes"]["lm"]["train"]["curve_points"] <= 0:
        for key in ("until_converged", "trained_control"):
            if config["sanity"][key]:
                raise SanityConfigError(f"sanity.{key} reads held-out training curves: set "
                                        f"saes.lm.train.curve_points > 0 (or sanity.{key}: 0)")
    lm = config["lm"]
    # SAELens names a hub model without its organisation (pythia-70m-deduped for EleutherAI/pythia-70m-deduped).
    models = {lm["name"]} | ({lm["hf_model"], lm["hf_model"].rsplit("/", 1)[-1]} if lm.get("hf_model") else set())
    for s in saes:
        if s.info.model is not None and s.info.model not in models:
            raise SanityConfigError(f"sanity SAE {s.name!r} ({s.info.folder}) was trained on model "
                                    f"{s.info.model!r}, but this config harvests {sorted(models)}")
        if s.info.d_in != lm_d_model(config):
            raise SanityConfigError(f"sanity SAE {s.name!r} ({s.info.folder}): d_in {s.info.d_in} does not match "
                                    f"the width of hook {s.hook!r} ({lm_d_model(config)})")
        if s.example is not None:
            if s.example["format"] == "sparsify" and s.example["arch"] != "topk":
                raise SanityConfigError(f"sanity SAE {s.name!r}: sparsify writes TopK SAEs only, not "
                                        f"{s.example['arch']!r}")
            if s.example["arch"] not in config["saes"]["lm"]["architectures"]:
                raise SanityConfigError(f"sanity SAE {s.name!r}: example arch {s.example['arch']!r} is not in "
                                        f"saes.lm.architectures {config['saes']['lm']['architectures']}")
            continue
        from saesanity.external.load import load_external  # torch: only when there is a folder to read
        try:
            load_external(s.info.folder, s.info)
        except ExternalSAEError as err:
            raise SanityConfigError(f"sanity SAE {s.name!r}: {err}") from None
