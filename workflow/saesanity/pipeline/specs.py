"""Each job's spec: the exact slice of the config one job depends on, as canonical JSON, passed as the rule's
params. The CLI turns it into a typed dataclass; a changed setting makes stale only the jobs that read it
(and their dependants)."""

from __future__ import annotations

import json
from typing import Any

from saesanity.config import TRAINED_CONTROL
from saesanity.data.offline.debian import PINS
from saesanity.data.offline.english import SOURCE_PACKAGES
from saesanity.data.offline.probing_sets import SETS as PROBING_SETS_SOURCES
from saesanity.lm.packaged import PACKAGED_MODELS
from saesanity.pipeline.jobs import (OPTION_AXES, TOYWORLD, TRAIN_AXES, TrainPass, arch_options, convergence_base,
                                     is_toyvit, is_toyworld, source_d_in, source_group, studies_train,
                                     width_init_seed)
from saesanity.pipeline.sanity import sanity_sae
from saesanity.pipeline.paths import (DEBIAN_PACKAGE, L0_TAG, OFFLINE_PROBING_FILES, RAVEL_CITIES, TOYWORLD_CORPUS,
                                      VISION_WORLD, english_text, model_dir, pretrained_dir, sanity_name,
                                      split_arch_dir, split_lm_source, split_vision_source, width_of)


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def synthetic_spec(config: dict, dist: str, from_sweep: bool | None = None) -> str:
    """JSON of saesanity.config.SyntheticConfig for one probability model, or for one data set of the
    validation sweep (validation.sweep.data, which sets the generator's fields itself)."""
    sweep_data = config["validation"]["sweep"]["data"]
    if from_sweep or (from_sweep is None and dist in sweep_data and dist not in config["synthetic"]["distributions"]):
        return canonical(sweep_data[dist])
    syn = config["synthetic"]
    models = syn["probability_models"]
    if dist not in models:
        raise KeyError(f"synthetic.probability_models has no {dist!r}; known: {sorted(models)}")
    spec = {k: v for k, v in syn.items() if k not in ("distributions", "probability_models")}
    spec["probability"] = models[dist]
    return canonical(spec)


def sweep_train_spec(config: dict, dist: str, d_sae: int, arch: str, seed: int) -> str:
    """JSON of saesanity.config.TrainJob for one SAE of the validation sweep (trained variant only)."""
    sweep = config["validation"]["sweep"]
    sae = {"arch": arch, "d_in": sweep["data"][dist]["d"], "d_sae": int(d_sae), "target_l0": sweep["target_l0"],
           "variant": "trained", "seed": int(seed), "options": sweep["arch"].get(arch, {})}
    return canonical({"sae": sae, "train": sweep["train"]})


def train_spec(config: dict, source: str, arch: str, variant: str, seed: int) -> str:
    """JSON of saesanity.config.TrainJob: this architecture's options only, and the Soft-Frozen cone only
    for Soft-Frozen variants, so that changing a setting another job reads leaves this job alone. `arch` is
    the path segment: an L0-sweep point's (`batchtopk-l0_80`) sets target_l0; a sanity check's
    (`topk-sanity_<name>`) takes the imported SAE's width, and its L0 from the SAE's reference.json at run time
    (target_l0 null here; the train command's --target-l0-from) and trains on that SAE's `train_tokens` where
    the config gives them; a width-family member's (`batchtopk-w_4096`,
    config `studies`) sets d_sae."""
    group = source_group(config, source)
    checked, width = sanity_name(arch), width_of(arch)
    if width is not None and width not in config["studies"]["widths"]:
        raise KeyError(f"width {width} of {source}/{arch} is not in studies.widths {config['studies']['widths']}")
    arch, sweep_l0 = split_arch_dir(arch)
    if sweep_l0 is not None and sweep_l0 not in group.get("l0_sweep", []):
        raise KeyError(f"L0 {sweep_l0} of {source}/{arch}{L0_TAG}{sweep_l0} is not in its group's l0_sweep")
    d_sae, target_l0 = group["d_sae"], group["target_l0"] if sweep_l0 is None else sweep_l0
    train = group["train"] if width is None else studies_train(config)
    if checked is not None:
        checked_sae = sanity_sae(config, checked)
        d_sae, target_l0 = checked_sae.info.d_sae, None
        if checked_sae.train_tokens is not None:  # the baselines of a checked SAE train on its own budget
            train = {**train, "n_samples": checked_sae.train_tokens}
    if width is not None:
        d_sae = width
    sae = {"arch": arch, "d_in": source_d_in(config, source), "d_sae": d_sae, "target_l0": target_l0,
           "variant": variant, "seed": int(seed), "options": arch_options(config, group, arch)}
    if variant.startswith("soft_frozen"):
        sae["soft_frozen_tau"] = config["soft_frozen_tau"]
    if variant != "trained" and group.get("baseline_init") == "shared":
        # The init of the first baseline seed for every seed; the seed still sets the data order.
        sae["init_seed"] = group["baseline_seeds"][0]
    job = {"sae": sae, "train": train}
    if width is not None:
        sae["init_seed"] = width_init_seed(seed, width)
        if config["studies"]["until_converged"]:  # only then, so that other specs keep their bytes
            job["until_converged"] = config["studies"]["until_converged"]
    return canonical(job)


def until_converged_arg(config: dict, variant: str) -> str:
    """sanity_train's ` --until-converged N` (sanity.until_converged; for the trained control at least
    sanity.trained_control), or nothing: the baselines' budget."""
    n = config["sanity"]["until_converged"]
    if variant == TRAINED_CONTROL:
        n = max(n, config["sanity"]["trained_control"])
    return f" --until-converged {n}" if n else ""


TRAINED_CONTROL_L0 = ("the sanity check's trained control: a miss is recorded, and the verdict then does not "
                      "use it as a positive control")
"""Why a trained control may miss its L0: it is judged beside the SAE, never compared as a baseline, and one that
misses is left out of the power (saesanity.sanity.verdict) rather than stopping the check."""


def l0_match_spec(config: dict, source: str, arch_dir: str, variant: str = "trained") -> str:
    """JSON of saesanity.evals.l0_match.L0Match for an SAE on `source`: the group's tolerance and the
    architecture's exemption reason, if any (the trained control's where none)."""
    block = source_group(config, source)["l0_match"]
    arch, _ = split_arch_dir(arch_dir)
    exempt = block["exempt"].get(arch) or (TRAINED_CONTROL_L0 if variant == TRAINED_CONTROL else None)
    return canonical({"tolerance": block["tolerance"], "exempt": exempt})


def truth_arg(truth: list[str]) -> str:
    """The train command's --truth (the ceilings' true dictionary), given the job's truth input."""
    return f"--truth {truth[0]}" if truth else ""


def convergence_train_spec(config: dict, dist: str, arch: str, run: str) -> str:
    """JSON of saesanity.config.TrainJob for one run of the study: the base recipe with one axis changed,
    and `n_checkpoints` evenly spaced checkpoints."""
    if dist not in config["convergence"]["distributions"]:
        raise KeyError(f"{dist!r} is not in convergence.distributions")
    base = convergence_base(config, arch)
    train, options = dict(base["train"]), dict(base["options"])
    if run != "base":
        axis, _, value = run.partition("-")
        if axis not in TRAIN_AXES + OPTION_AXES:
            raise KeyError(f"convergence run {run!r}: unknown axis {axis!r}")
        cast = int if axis in ("batch_size", "n_samples", "dead_after") else float
        (options if axis in OPTION_AXES else train)[axis] = cast(value)
    k = config["convergence"]["n_checkpoints"]
    n, batch = train["n_samples"], train["batch_size"]
    train["checkpoints"] = sorted({max(batch, n * i // (k + 1) // batch * batch) for i in range(1, k + 1)})
    group = config["saes"]["synthetic"]
    sae = {"arch": arch, "d_in": config["synthetic"]["d"], "d_sae": group["d_sae"], "target_l0": group["target_l0"],
           "variant": "trained", "seed": config["convergence"]["seed"], "options": options}
    return canonical({"sae": sae, "train": train})


def concepts_reference_spec(config: dict) -> str:
    """What concepts_reference reads: the LM group's dictionary size and L0, the concept threshold, and the
    training tokens the explainer scans (evals.autointerp)."""
    ai, group = config["evals"]["autointerp"], config["saes"]["lm"]
    return canonical({"d_sae": group["d_sae"], "target_l0": group["target_l0"],
                      "threshold": ai["concept_threshold"], "train_tokens": ai["train_tokens"], "seed": ai["seed"]})


def train_pass_spec(config: dict, train_pass: TrainPass) -> str:
    """JSON list of the pass's TrainJobs, in the order of its output folders."""
    return "[" + ",".join(train_spec(config, k.source, k.arch, k.variant, k.seed) for k in train_pass.keys) + "]"


def toy_model_dir(config: dict) -> str:
    return model_dir(config["lm"]["name"])


def packaged_model_names() -> list[str]:
    """The wildcard values of rule fetch_model (saesanity.lm.packaged)."""
    return sorted(PACKAGED_MODELS)


def lm_model_path(config: dict) -> str:
    """Where the language model is loaded from: the toy-world model folder, the packaged model's folder
    (rule fetch_model), or lm.hf_model (a hub name or the user's folder)."""
    if is_toyworld(config):
        return toy_model_dir(config)
    lm = config["lm"]
    return pretrained_dir(lm["packaged"]) if lm["packaged"] else lm["hf_model"]


def lm_model_spec(config: dict) -> dict:
    """saesanity.lm.model.ModelSpec of the configured language model."""
    lm = config["lm"]
    path = lm_model_path(config)
    return {"kind": lm["kind"], "path": path, "device": lm["device"], "dtype": lm["dtype"], "n_ctx": lm["n_ctx"]}


def toyworld_spec(config: dict) -> str:
    return canonical(config["toyworld"]["corpus"])


def offline_labels_spec(config: dict, name: str) -> str:
    """offline_labels.<name>: 'sentiment' or 'ravel_cities'."""
    return canonical(config["offline_labels"][name])


def english_text_packages(config: dict) -> list[str]:
    """The extracted package folders the English corpus reads (rule english_text's inputs)."""
    sources = config["offline_text"]["english"]["sources"]
    return [DEBIAN_PACKAGE.format(deb=PINS[SOURCE_PACKAGES[s]].folder) for s in sources]


def probing_sets_packages(config: dict) -> list[str]:
    """The extracted package folders the probing sets read (rule probing_sets's inputs)."""
    names = sorted({p for s in config["offline_text"]["probing"]["sets"] for p in PROBING_SETS_SOURCES[s][1]})
    return [DEBIAN_PACKAGE.format(deb=PINS[name].folder) for name in names]


def english_text_spec(config: dict) -> str:
    return canonical(config["offline_text"]["english"])


def probing_sets_spec(config: dict) -> str:
    return canonical(config["offline_text"]["probing"])


def train_lm_spec(config: dict) -> str:
    tw = config["toyworld"]
    return canonical({"model": tw["model"], "train": tw["train"], "device": config["lm"]["device"]})


def _check_lm_hook(config: dict, model: str, hook: str, job: str) -> None:
    lm = config["lm"]
    if model != lm["name"] or hook not in lm["hooks"]:
        raise KeyError(f"no {job} of {model}/{hook}: the config has lm.name {lm['name']!r}, lm.hooks {lm['hooks']}")


def _probing_datasets(config: dict) -> list[dict]:
    """evals.probing.datasets as the jobs read them: nulls dropped, the toy world's corpus path filled in."""
    datasets = [{k: v for k, v in d.items() if v is not None} for d in config["evals"]["probing"]["datasets"]]
    for d in datasets:
        if d["name"] == TOYWORLD:
            d.setdefault("path", TOYWORLD_CORPUS)
        elif d["name"] in OFFLINE_PROBING_FILES and "path" not in d:
            d.update(path="json", data_files=[OFFLINE_PROBING_FILES[d["name"]]])
    return datasets


def probing_inputs(config: dict) -> list[str]:
    """The folders of the probing data sets the pipeline builds (each rule writes one folder)."""
    return sorted({f.rsplit("/", 1)[0] for d in _probing_datasets(config) for f in d.get("data_files") or []
                   if f in OFFLINE_PROBING_FILES.values()})


def harvest_spec(config: dict, model: str, hook: str) -> str:
    """JSON of saesanity.lm.jobs.HarvestJob for one hook."""
    _check_lm_hook(config, model, hook, "harvest")
    lm = config["lm"]
    h = lm["harvest"]
    train = {"n_tokens": h["n_tokens"], "batch_docs": h["batch_docs"], "shard_rows": h["shard_rows"],
             "dtype": h["dtype"], "outlier_norm": h["outlier_norm"]}
    heldout = {**train, "n_tokens": h["n_heldout_tokens"]}
    if is_toyworld(config):
        text = {"kind": TOYWORLD, "path": TOYWORLD_CORPUS, "split": "train"}
        heldout_text = {**text, "split": "heldout"}
    elif lm["text"]["source"] == "offline":
        text = {"kind": "jsonl", "path": english_text("train")}
        heldout_text = {"kind": "jsonl", "path": english_text("heldout")}
    else:
        text = {"kind": "hf", **{k: v for k, v in lm["text"].items() if v is not None and k != "source"}}
        heldout_text = None
    return canonical({"model": lm_model_spec(config), "hook": hook, "text": text, "heldout_text": heldout_text,
                      "train": train, "heldout": heldout})


def lm_loss_spec(config: dict, source: str) -> str:
    _, hook = split_lm_source(source)
    ev = config["lm"]["eval"]
    return canonical({"model": lm_model_spec(config), "hook": hook, "n_docs": ev["n_docs"],
                      "batch_docs": ev["batch_docs"]})


RAVEL_MASK_KEYS = ("n_train", "n_eval", "steps", "batch_size", "lr", "temperature_start", "temperature_end",
                   "sparsity")
"""evals.ravel settings of the per-SAE masks only: ravel_prep does not read them."""


def ravel_spec(config: dict, source: str, prep: bool = False) -> str:
    """JSON for eval-ravel: the model, the SAE's hook and evals.ravel; for ravel-prep (`prep`) without the
    mask settings, so that changing them reruns only the per-SAE jobs."""
    _, hook = split_lm_source(source)
    drop = ("seeds", *RAVEL_MASK_KEYS) if prep else ("seeds",)  # seeds: which SAEs (targets.py)
    ravel = {k: v for k, v in config["evals"]["ravel"].items() if k not in drop}
    if ravel["data"] == "cities":
        ravel.update(data="ravel", ravel_dir=RAVEL_CITIES)
    return canonical({"model": lm_model_spec(config), "hook": hook, "ravel": ravel})


def probing_prep_spec(config: dict, model: str, hook: str) -> str:
    """JSON of saesanity.evals.probing.PrepJob: the model (context evals.probing.n_ctx), the hook, and what
    decides the tasks' documents (not ks: changing ks reruns only the per-SAE jobs)."""
    _check_lm_hook(config, model, hook, "probing preparation")
    probing = config["evals"]["probing"]
    model_spec = lm_model_spec(config)
    if probing["n_ctx"] is not None:
        model_spec["n_ctx"] = probing["n_ctx"]
    return canonical({"model": model_spec, "hook": hook,
                      "probing": {"datasets": _probing_datasets(config), "n_train": probing["n_train"],
                                  "n_test": probing["n_test"],
                                  "seed": probing["seed"], "batch_docs": probing["batch_docs"],
                                  "dtype": probing["dtype"]}})


def probing_eval_spec(config: dict) -> str:
    return canonical({"ks": config["evals"]["probing"]["ks"], "device": config["lm"]["device"]})


def autointerp_spec(config: dict) -> str:
    """JSON of the evals.autointerp block (saesanity.evals.autointerp.config.AutoInterpConfig); check_config
    has refused the ground-truth back-end without the toy world."""
    return canonical(config["evals"]["autointerp"])


def autointerp_text_args(config: dict, corpus: str | None) -> str:
    """Where eval-autointerp gets token text: the toy world's documents (text and concepts) or the Hugging
    Face model's tokenizer (text only)."""
    if is_toyworld(config):
        return f"--documents {corpus}/documents.parquet"
    return f"--tokenizer {lm_model_path(config)}"


def stitching_spec(config: dict) -> str:
    return canonical(config["studies"]["stitching"])


def meta_sae_spec(config: dict) -> str:
    return canonical(config["studies"]["meta_sae"])


def regimes_block(config: dict) -> dict:
    """saesanity.studies.regimes.RegimesConfig: studies.regimes on evals.probing's data sets (the toy world's
    corpus, or SAEBench's on a Hugging Face model). Every job of one source gets the same block: the training
    draws depend on it."""
    return {**config["studies"]["regimes"], "datasets": _probing_datasets(config)}


def regimes_prep_spec(config: dict, model: str, hook: str) -> str:
    """JSON of saesanity.studies.regimes_job.RegimesPrepJob: the model, the hook and the regimes block."""
    _check_lm_hook(config, model, hook, "regimes preparation")
    return canonical({"model": lm_model_spec(config), "hook": hook, "regimes": regimes_block(config)})


def regimes_probe_spec(config: dict) -> str:
    return canonical({"regimes": regimes_block(config), "device": config["lm"]["device"]})


# The vision part (config `vision`; docs/vision.md).
def vision_model_dir(config: dict) -> str:
    """The toy ViT's folder (rule train_vit)."""
    return model_dir(config["vision"]["name"])


def vision_model_spec(config: dict) -> dict:
    """saesanity.vision.model.VisionSpec of the configured vision model."""
    vision = config["vision"]
    path = vision_model_dir(config) if is_toyvit(config) else vision["clip_model"]
    return {"kind": vision["kind"], "path": path, "device": vision["device"]}


def vision_images_spec(config: dict) -> dict:
    """saesanity.vision.images.ImageSource: the toy world's images, or the user's image folder."""
    vision = config["vision"]
    if is_toyvit(config):
        return {"kind": "world", "path": VISION_WORLD}
    return {"kind": "folder", "path": vision["images"], "n_heldout": vision["folder"]["n_heldout"],
            "seed": vision["folder"]["seed"]}


def vision_world_spec(config: dict) -> str:
    return canonical(config["vision"]["world"])


def train_vit_spec(config: dict) -> str:
    vision = config["vision"]
    return canonical({"model": vision["model"], "train": vision["train"]})


def vision_harvest_spec(config: dict, hook: str) -> str:
    """JSON of saesanity.vision.harvest.VisionHarvestJob for one hook."""
    vision = config["vision"]
    if hook not in vision["hooks"]:
        raise KeyError(f"no vision harvest at {hook!r}: vision.hooks is {vision['hooks']}")
    return canonical({"model": vision_model_spec(config), "hook": hook, "images": vision_images_spec(config),
                      "harvest": vision["harvest"]})


def vision_eval_spec(config: dict, source: str) -> str:
    """JSON of saesanity.vision.evals.VisionEvalJob for the SAEs on `source`."""
    _, hook = split_vision_source(source)
    return canonical({"model": vision_model_spec(config), "hook": hook, "images": vision_images_spec(config),
                      "eval": config["vision"]["eval"]})


def vision_reference_spec(config: dict) -> str:
    """What vision-concepts-reference reads: the images, the group's dictionary size and L0, the threshold
    and the training images of vision.eval."""
    group, ev = config["saes"]["vision"], config["vision"]["eval"]
    return canonical({"images": vision_images_spec(config), "d_sae": group["d_sae"], "target_l0": group["target_l0"],
                      "threshold": ev["concept_threshold"], "train_images": ev["train_images"], "seed": ev["seed"]})
