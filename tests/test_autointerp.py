"""Detection scoring and the concept check on planted data, the OpenAI-compatible client against a local
server, and the outputs of the tiny end-to-end run."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from saesanity.config import ConfigError
from saesanity.data.store import ShardWriter
from saesanity.evals.autointerp.detection import autointerp_metrics, encode_firing, evaluate_autointerp
from saesanity.evals.autointerp.config import AutoInterpConfig, OpenAIConfig, autointerp_config
from saesanity.evals.autointerp.contexts import TokenLabels
from saesanity.evals.autointerp.explainers import (GroundTruthError, GroundTruthInterpreter, LLMInterpreter,
                                        parse_explanation, parse_judgements)
from saesanity.evals.autointerp.openai_client import ChatClient, OpenAIError
from saesanity.evals.autointerp.reference import reference_records
from saesanity.pipeline import checks

CONCEPT_A, CONCEPT_B, CONCEPT_C = "topic:alpha", "sentiment:beta", "register:gamma"
A_WORDS, B_WORDS = ["apple", "apricot"], ["bold", "brave"]
FILLER = ["the", "of", "and", "to", "in", "is", "was", "on"]
PLANTED, RANDOM, DEAD, PLANTED_B = 0, 1, 2, 3


class PlantedSAE(torch.nn.Module):
    """Latents read off the planted columns of x: z = relu(x)."""

    def __init__(self, d_sae: int):
        super().__init__()
        self.cfg = SimpleNamespace(d_sae=d_sae)
        # Unused by encode; a parameter, as every SAE has, because the evaluation reads the device off it.
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        return x_BD.clamp_min(0)


def _planted_world(folder, n_docs: int, first_doc: int, rng: np.random.Generator):
    """Documents of 20 words, each word of concept A or B with probability 0.1, of C with 0.05, and a store
    whose latent 0 fires exactly on A, latent 3 exactly on B, latent 1 at random (p 0.1), latent 2 never."""
    docs, rows = [], []
    for d in range(first_doc, first_doc + n_docs):
        words, concepts = [], []
        for _ in range(20):
            u = rng.random()
            if u < 0.1:
                words.append(str(rng.choice(A_WORDS))), concepts.append(CONCEPT_A)
            elif u < 0.2:
                words.append(str(rng.choice(B_WORDS))), concepts.append(CONCEPT_B)
            elif u < 0.25:
                words.append("hence"), concepts.append(CONCEPT_C)
            else:
                words.append(str(rng.choice(FILLER))), concepts.append("none")
        docs.append({"doc": d, "words": words, "concepts": concepts,
                     "values": [c.split(":")[1] if c != "none" else "" for c in concepts]})
        for p, c in enumerate(concepts, start=1):
            rows.append((d, p, c))
    n = len(rows)
    x = np.zeros((n, 4), np.float32)
    concept = np.array([c for _, _, c in rows])
    x[concept == CONCEPT_A, PLANTED] = rng.uniform(1, 2, (concept == CONCEPT_A).sum())
    x[concept == CONCEPT_B, PLANTED_B] = rng.uniform(1, 2, (concept == CONCEPT_B).sum())
    x[:, RANDOM] = np.where(rng.random(n) < 0.1, rng.uniform(1, 2, n), 0)
    writer = ShardWriter(folder, 4, "float32", {"hook": "planted"})
    writer.write(x, doc=np.array([r[0] for r in rows], np.int64), pos=np.array([r[1] for r in rows], np.int32),
                 token_id=np.zeros(n, np.int32))
    writer.close()
    return docs


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    docs = _planted_world(root / "train", 300, 0, rng) + _planted_world(root / "heldout", 300, 1000, rng)
    pq.write_table(pa.Table.from_pylist(docs), root / "documents.parquet")
    from saesanity.data.store import ActivationStore
    return SimpleNamespace(root=root, train=ActivationStore.open(root / "train"),
                           heldout=ActivationStore.open(root / "heldout"), documents=root / "documents.parquet")


def _run(planted, cfg: AutoInterpConfig, make_interpreter=GroundTruthInterpreter, concepts=True):
    return evaluate_autointerp(PlantedSAE(4), planted.train, planted.heldout, cfg,
                               lambda docs: TokenLabels.from_corpus(planted.documents, np.concatenate(docs)),
                               make_interpreter, concepts=concepts)


def test_ground_truth_judge_scores_a_planted_concept_latent_near_1_and_a_random_one_near_half(planted):
    record, _ = _run(planted, AutoInterpConfig(n_background=128))
    assert record["n_live"] == 3 and record["n_scored"] == 3  # latent 2 never fires: dead, not scored
    by_latent = {r["latent"]: r for r in record["latents"]}
    assert set(by_latent) == {PLANTED, RANDOM, PLANTED_B}
    assert by_latent[PLANTED]["explanation"] == CONCEPT_A and by_latent[PLANTED]["accuracy"] >= 0.95
    assert by_latent[PLANTED_B]["explanation"] == CONCEPT_B and by_latent[PLANTED_B]["accuracy"] >= 0.95
    assert 0.35 <= by_latent[RANDOM]["accuracy"] <= 0.65
    assert by_latent[PLANTED]["accuracy_activating"] == 1.0 and by_latent[PLANTED]["accuracy_random"] >= 0.9
    for r in record["latents"]:
        assert r["n_activating"] == 50 and r["n_random"] == 50
    assert record["score"] == pytest.approx(np.mean([r["accuracy"] for r in record["latents"]]))
    assert record["frac_above_0.7"] == pytest.approx(2 / 3)


def test_concept_check_finds_the_planted_concepts_and_not_the_random_latent(planted):
    _, concepts = _run(planted, AutoInterpConfig(n_latents=1))
    rows = {r["concept"]: r for r in concepts["concepts"]}
    tokens = {c for c in rows if c.startswith("token=")}
    assert set(rows) - tokens == {CONCEPT_A, CONCEPT_B, CONCEPT_C} and tokens  # each word is a concept too
    assert rows[CONCEPT_A]["best_latent"] == PLANTED and rows[CONCEPT_A]["f1"] == pytest.approx(1.0)
    assert rows[CONCEPT_B]["best_latent"] == PLANTED_B and rows[CONCEPT_B]["f1"] == pytest.approx(1.0)
    assert rows[CONCEPT_A]["precision"] == 1.0 and rows[CONCEPT_A]["recall"] == 1.0
    # No latent is concept C: its best is the random latent, far below the threshold.
    assert rows[CONCEPT_C]["best_latent"] == RANDOM and rows[CONCEPT_C]["f1"] < 0.3
    assert concepts["fraction_detected_by_kind"]["tag"] == pytest.approx(2 / 3)
    assert concepts["n_concepts"] == 3 + len(tokens)
    assert rows[CONCEPT_A]["support"] == sum(c == CONCEPT_A for d in pq.read_table(planted.documents).to_pylist()
                                             if d["doc"] >= 1000 for c in d["concepts"])


def test_reference_dictionaries_show_the_check_can_tell_them_apart(planted):
    """The ideal dictionary (a linear discriminant per known concept) detects the concepts the activations
    carry (A and B, planted in two columns) and not C (absent from them); random directions at a firing
    budget of 1 in 4 detect fewer (in 4 dimensions one may still fall on a planted column)."""
    ref = reference_records(planted.train, planted.heldout, planted.documents, d_sae=4, target_l0=1,
                            threshold=0.8, train_tokens=6000)
    ideal = {r["concept"]: r for r in ref["ideal"]["concepts"]}
    random = {r["concept"]: r for r in ref["random"]["concepts"]}
    assert ideal[CONCEPT_A]["f1"] > 0.95 and ideal[CONCEPT_B]["f1"] > 0.95 and ideal[CONCEPT_C]["f1"] < 0.5
    assert random[CONCEPT_C]["f1"] < 0.5 and ref["random"]["n_detected"] < ref["ideal"]["n_detected"]
    assert ref["ideal"]["fraction_detected_by_kind"]["tag"] == pytest.approx(2 / 3)
    assert ref["train_tokens"] == 6000


def test_same_inputs_same_record(planted):
    cfg = AutoInterpConfig(n_background=64)
    assert json.dumps(_run(planted, cfg), sort_keys=True) == json.dumps(_run(planted, cfg), sort_keys=True)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device"))])
def test_firing_is_encoded_on_the_saes_device_and_equals_the_dense_encoding(planted, device):
    from saesanity.config import SAEConfig
    from saesanity.sae.registry import build_sae
    torch.manual_seed(0)
    sae = build_sae(SAEConfig("topk", d_in=4, d_sae=16, target_l0=2)).eval()
    x = torch.from_numpy(planted.heldout.read_all())
    with torch.no_grad():
        sae.W_enc_FD.normal_()
        z_ref = sae.encode(x)
    cols = np.sort(np.argsort(-(z_ref > 0).sum(0).numpy(), kind="stable")[:3])  # the 3 most active latents
    firing = encode_firing(sae.to(device), planted.heldout, latents=cols, chunk_rows=1000)
    z = np.zeros((len(x), len(cols)), np.float32)
    z[firing.rows, firing.latents] = firing.values
    np.testing.assert_allclose(z, z_ref[:, cols].numpy(), rtol=1e-5, atol=1e-6)
    assert (z > 0).sum() == len(firing.rows) > 0


def test_ground_truth_backend_refuses_tokens_without_concepts(planted, tmp_path):
    with pytest.raises(GroundTruthError, match="concept tags"):
        GroundTruthInterpreter([]).judge("topic:alpha", [SimpleNamespace(tokens=("a",), concepts=None)])
    with pytest.raises(GroundTruthError, match="backend 'openai'"):
        autointerp_metrics(tmp_path, planted.root / "train", planted.root / "heldout", AutoInterpConfig(),
                           documents=None, tokenizer="gpt2")
    config = {"lm": {"kind": "hf"}, "evals": {"autointerp": {"backend": "ground_truth"}}}
    with pytest.raises(checks.PipelineConfigError, match="evals.autointerp.backend"):
        checks._check_autointerp(config)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="n_latent"):
        autointerp_config({"n_latent": 3})
    with pytest.raises(ConfigError, match="evals.autointerp.openai.*modle"):
        autointerp_config({"openai": {"modle": "x"}})
    with pytest.raises(ConfigError, match="backend"):
        autointerp_config({"backend": "gpt"})
    assert autointerp_config({"openai": {"model": "m"}}).openai.model == "m"


def test_judge_answers_are_parsed_robustly():
    assert parse_judgements("[1, 0, 1]", 3) == [True, False, True]
    assert parse_judgements("Excerpt 3 is tricky.\nAnswer: [0,1, 1]", 3) == [False, True, True]
    assert parse_judgements("1\n0\n1\n1", 4) == [True, False, True, True]
    assert parse_judgements("I cannot tell.", 3) is None
    assert parse_explanation("The marked tokens are fruits.\nExplanation: fruit names") == "fruit names"
    assert parse_explanation("fruit names") == "fruit names"


class FakeLLM(BaseHTTPRequestHandler):
    """A chat-completions endpoint: answers `script` statuses first, then explains by naming the marked
    words and judges '1' for excerpts that contain one of the words of the explanation."""

    script: list[int] = []
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if type(self).script:
            code = type(self).script.pop(0)
            self.send_response(code)
            self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(b'{"error": "busy"}')
            return
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Explanation:"):
            words = set(prompt.splitlines()[0].removeprefix("Explanation:").split())
            excerpts = re.findall(r"^Excerpt \d+: (.*)$", prompt, flags=re.MULTILINE)
            content = "Answer: [" + ", ".join("1" if words & set(e.split()) else "0" for e in excerpts) + "]"
        else:
            content = "They share words.\nExplanation: " + " ".join(sorted(set(re.findall(r"<<(\w+)>>", prompt))))
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    FakeLLM.script, FakeLLM.seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _client(url, tmp_path, **kw):
    cfg = OpenAIConfig(base_url=url, model="judge-model", backoff_s=0.01, cache_dir=str(tmp_path / "cache"), **kw)
    return ChatClient(cfg, environ={"OPENAI_API_KEY": "sk-test"})


def test_openai_client_round_trips_retries_and_caches(server, tmp_path):
    FakeLLM.script = [500, 429]
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "Example 1: <<hi>>(10)"}]
    answer = _client(server, tmp_path).complete(messages)
    assert answer == "They share words.\nExplanation: hi"
    assert len(FakeLLM.seen) == 3  # 500, 429, then the answer
    last = FakeLLM.seen[-1]
    assert last["path"] == "/v1/chat/completions" and last["auth"] == "Bearer sk-test"
    assert last["body"] == {"model": "judge-model", "messages": messages, "temperature": 0, "max_tokens": 512}
    # A rerun (a new client, same cache) sends nothing and gets the same answer.
    assert _client(server, tmp_path).complete(messages) == answer and len(FakeLLM.seen) == 3
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1


def test_openai_client_fails_clearly(server, tmp_path):
    cfg = OpenAIConfig(base_url=server, model="m", cache_dir=str(tmp_path))
    with pytest.raises(OpenAIError, match="OPENAI_API_KEY"):
        ChatClient(cfg, environ={})
    with pytest.raises(OpenAIError, match="MY_KEY"):
        ChatClient(OpenAIConfig(base_url=server, model="m", api_key_env="MY_KEY"), environ={"OPENAI_API_KEY": "k"})
    with pytest.raises(OpenAIError, match="OPENAI_MODEL"):
        ChatClient(OpenAIConfig(base_url=server), environ={"OPENAI_API_KEY": "k"})
    FakeLLM.script = [503, 503]
    with pytest.raises(OpenAIError, match="gave up after 2 attempts.*503"):
        _client(server, tmp_path, max_retries=1).complete([{"role": "user", "content": "x"}])
    FakeLLM.script = [401]
    with pytest.raises(OpenAIError, match="HTTP 401"):
        _client(server, tmp_path).complete([{"role": "user", "content": "y"}])
    assert not list((tmp_path / "cache").glob("*.json"))  # failures are not cached


def test_detection_scoring_through_the_endpoint(planted, server, tmp_path):
    """The whole protocol with the LLM back-end: the fake LLM explains a latent by its marked words and
    judges by them, so the planted latent scores 1 and the random one about 1/2."""
    llm = LLMInterpreter(_client(server, tmp_path), judge_batch=10)
    record, _ = _run(planted, AutoInterpConfig(backend="openai"), lambda background: llm, concepts=False)
    by_latent = {r["latent"]: r for r in record["latents"]}
    assert set(by_latent[PLANTED]["explanation"].split()) == set(A_WORDS)
    assert by_latent[PLANTED]["accuracy"] == 1.0 and llm.unparsed == 0
    assert by_latent[RANDOM]["accuracy"] < 0.8
    n_requests = len(FakeLLM.seen)
    assert n_requests == 3 * (1 + 100 // 10)  # per latent: one explanation, ten judge batches
    _run(planted, AutoInterpConfig(backend="openai"), lambda background: llm, concepts=False)
    assert len(FakeLLM.seen) == n_requests  # all answers from the cache


def test_tiny_run_writes_autointerp_and_concepts_for_every_lm_sae(tiny_run):
    preset = yaml.safe_load((tiny_run / "presets/tiny.yaml").read_text())
    group = preset["saes"]["lm"]
    base = tiny_run / "results/metrics/toyworld-blocks.1.hook_resid_pre"
    keys = [(a, "trained", s) for a in ("relu", "topk", "batchtopk", "jumprelu") for s in (0, 1)]
    keys += [(a, v, 0) for a in ("relu", "topk", "batchtopk", "jumprelu") for v in group["baselines"]]
    for arch, variant, seed in keys:
        folder = base / arch / variant / f"seed{seed}"
        auto = json.loads((folder / "autointerp.json").read_text())
        assert (auto["arch"], auto["variant"], auto["seed"]) == (arch, variant, seed)
        assert auto["backend"] == "ground_truth" and 0 < auto["n_scored"] <= min(auto["n_live"], 32)
        assert 0 <= auto["score"] <= 1 and 0 <= auto["frac_above_0.7"] <= 1
        assert {"latent", "explanation", "accuracy", "n_activating", "n_random"} <= set(auto["latents"][0])
        concepts = json.loads((folder / "concepts.json").read_text())
        assert concepts["threshold"] == 0.8 and concepts["n_concepts"] == len(concepts["concepts"]) > 10
        assert 0 <= concepts["fraction_detected"] <= 1
        assert all(0 <= c["f1"] <= 1 for c in concepts["concepts"])
