# Included first by the Snakefile: the package's pipeline modules (paths, job lists, specs), the wildcard
# constraints, the conda environment, and input helpers.
from saesanity.pipeline import checks, jobs, paths, sanity, specs, targets

# Every rule runs in this environment under --sdm conda (the path is relative to this folder).
CONDA_ENV = "../../envs/saesanity.yaml"


wildcard_constraints:
    dist="[a-z0-9_]+",
    source="[a-z0-9_.-]+",
    arch="[a-z0-9_]+(-l0_[0-9]+|-sanity_[a-z0-9_]+|-w_[0-9]+)?",
    variant="[a-z_]+(-[a-z]+)?",
    seed="[0-9]+",
    d_sae="[0-9]+",
    run="base|[a-z_]+-[0-9.e+-]+",
    model="[a-z0-9_.]+(-[a-z0-9_.]+)*",
    hook="[a-z0-9_.]+",


def sae_input(key=paths.SAE_KEY):
    """What a per-SAE evaluation reads of its SAE: cfg.json and sae_weights.safetensors."""
    return paths.sae_files(key, paths.SAE_LOADABLE)


def sae_folder(wildcards, input):
    """params.sae of a per-SAE evaluation: the folder of its input `sae`."""
    return os.path.dirname(input.sae[0])


def lm_model_input():
    """The model folder a job needs where the pipeline builds it (the toy world's, or a packaged model's);
    a Hugging Face model comes from its cache or the user's folder instead."""
    built = jobs.is_toyworld(config) or config["lm"]["packaged"]
    return [specs.lm_model_path(config)] if built else []


def lm_text_input():
    """The offline English documents a harvest reads (rule english_text), where lm.text.source is offline."""
    offline = not jobs.is_toyworld(config) and config["lm"]["text"]["source"] == "offline"
    return [paths.ENGLISH_TEXT] if offline else []


def validation_inputs(seed_dirs, dist):
    """Inputs of a PW-MCC validation job: the seeds' final weights and checkpoints, and the true features."""
    return {
        "saes": [f"{d}/{paths.WEIGHTS}" for d in seed_dirs],
        "checkpoints": [f"{d}/{paths.CHECKPOINTS}" for d in seed_dirs],
        "features": paths.features_file(dist),
    }


def vision_model_input():
    """The toy ViT folder a job needs; a CLIP checkpoint is the user's folder instead."""
    return [specs.vision_model_dir(config)] if jobs.is_toyvit(config) else []


def vision_world_input():
    return [paths.VISION_WORLD] if jobs.is_toyvit(config) else []


def documents_arg(wildcards, input):
    """--documents of the toy world's corpus (its concept tags), where the model is the toy world's."""
    return f"--documents {input.corpus[0]}/documents.parquet" if input.corpus else ""
