from saesanity import pipeline

CONDA_ENV = "../../envs/saesanity.yaml"


wildcard_constraints:
    dist="[a-z0-9_]+",
    source="[a-z0-9_.-]+",
    arch="[a-z0-9_]+(-l0_[0-9]+)?",
    variant="[a-z_]+(-[a-z]+)?",
    seed="[0-9]+",
    d_sae="[0-9]+",
    run="base|[a-z_]+-[0-9.e+-]+",


def sae_files(key_path):
    return multiext(f"results/saes/{key_path}/", "cfg.json", "sae_weights.safetensors")


def synthetic_sae_keys():
    return [k for src in pipeline.synthetic_sources(config) for k in pipeline.sae_keys(config, src)]


def validation_inputs(seed_dirs, dist):
    """Inputs of a PW-MCC validation job: the seeds' final weights and checkpoints, and the true features."""
    return {
        "saes": [f"{d}/sae_weights.safetensors" for d in seed_dirs],
        "checkpoints": [f"{d}/checkpoints" for d in seed_dirs],
        "features": f"results/synthetic/{dist}/features.parquet",
    }
wildcard_constraints:
    model="[a-z0-9_.]+(-[a-z0-9_.]+)*",
    hook="[a-z0-9_.]+",


def lm_headline_keys():
    """The language-model SAEs at the headline L0 (saes.lm.target_l0)."""
    return [k for src in pipeline.lm_sources(config) for k in pipeline.sae_keys(config, src)]


def lm_sae_keys():
    """Every language-model SAE: the headline ones and the points of saes.lm.l0_sweep."""
    return lm_headline_keys() + [
        k for src in pipeline.lm_sources(config) for k in pipeline.l0_sweep_keys(config, src)
    ]


def lm_metric_files(name):
    """<name>.json of every language-model SAE, or [] where that evaluation is not configured for this
    model (pipeline.table2_evals): the inputs of table2.csv."""
    if name not in pipeline.table2_evals(config):
        return []
    return [f"results/metrics/{k.path}/{name}.json" for k in lm_sae_keys()]


def lm_model_input():
    """The toy-world model folder a job needs; a Hugging Face model comes from its cache instead."""
    return [pipeline.toy_model_dir(config)] if pipeline.is_toyworld(config) else []
