"""Writes tests/data/external/dictionary_learning/<dict_class>/ with dictionary_learning's own classes:
ae.pt and config.json as its training.py saves them (torch.save of the state dict; {"trainer":
trainer.config}), plus the library's own encode/decode (z.pt, x_hat.pt) of the inputs in dictionary_learning/x.pt.

dictionary_learning 0.1.0 needs nnsight < 0.4 and does not install beside our environment; run this with
the interpreter of a separate venv holding it (`pip install -c envs/constraints.txt dictionary-learning==0.1.0`;
if transformers then fails to import torchvision's ops, uninstall torchvision there), from the repository root:

    <that venv>/bin/python tests/data/external/make_dictionary_learning.py

The weights are random (seeded): non-unit decoder rows, nonzero biases, thresholds of both signs, so that
every conversion in saesanity.external.load is exercised.
"""

import json
from pathlib import Path

import torch

from dictionary_learning.trainers.batch_top_k import BatchTopKTrainer
from dictionary_learning.trainers.gdm import GatedSAETrainer
from dictionary_learning.trainers.jumprelu import JumpReluTrainer
from dictionary_learning.trainers.standard import StandardTrainer
from dictionary_learning.trainers.top_k import TopKTrainer

OUT = Path(__file__).parent / "dictionary_learning"
D, F, K, B = 16, 64, 6, 32
COMMON = dict(steps=10, warmup_steps=1, activation_dim=D, dict_size=F, layer=3, lm_name="EleutherAI/pythia-70m-deduped",
              device="cpu", submodule_name="resid_post_layer_3", seed=0)


def randomise(ae: torch.nn.Module, gen: torch.Generator) -> None:
    """Every floating parameter and buffer random; weights ~ N(0, 1/D) times a per-row scale in [0.5, 2]
    (non-unit decoder), biases ~ N(0, 0.3)."""
    with torch.no_grad():
        for name, t in ae.state_dict().items():
            if not t.is_floating_point() or name == "threshold":
                continue
            r = torch.randn(t.shape, generator=gen)
            if t.dim() == 2:
                r = r / D ** 0.5 * (0.5 + 1.5 * torch.rand(t.shape[0], 1, generator=gen))
            else:
                r = 0.3 * r
            t.copy_(r)


def main() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(B, D, generator=gen) * 2.0 + 0.5
    trainers = {
        # steps/warmup only satisfy the trainers' schedule checks; nothing is trained.
        "AutoEncoder": StandardTrainer(**COMMON, sparsity_warmup_steps=1),
        "AutoEncoderTopK": TopKTrainer(**COMMON, k=K),
        "BatchTopKSAE": BatchTopKTrainer(**COMMON, k=K),
        "JumpReluAutoEncoder": JumpReluTrainer(**COMMON, sparsity_warmup_steps=1),
        "GatedAutoEncoder": GatedSAETrainer(**COMMON, sparsity_warmup_steps=1),  # refused by our reader: no exact counterpart
    }
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save(x, OUT / "x.pt")
    for name, trainer in trainers.items():
        ae = trainer.ae
        randomise(ae, gen)
        with torch.no_grad():
            if name == "BatchTopKSAE":
                ae.threshold.fill_(0.4)
            if name == "JumpReluAutoEncoder":  # both signs: a negative threshold acts as 0 (ReLU after the jump)
                ae.threshold.copy_(torch.rand(F, generator=gen) * 0.8 - 0.2)
            z = ae.encode(x)
            x_hat = ae.decode(z)
        folder = OUT / name
        folder.mkdir(parents=True, exist_ok=True)
        assert trainer.config["dict_class"] == name
        # training.py: config.json first, then ae.pt = {k: v.cpu() for k, v in ae.state_dict().items()}
        (folder / "config.json").write_text(json.dumps({"trainer": trainer.config}, indent=4))
        torch.save({k: v.cpu() for k, v in ae.state_dict().items()}, folder / "ae.pt")
        if name != "GatedAutoEncoder":  # only its refusal is tested
            torch.save(z, folder / "z.pt")
            torch.save(x_hat, folder / "x_hat.pt")
        print(name, "L0", float((z != 0).sum(1).float().mean()))


if __name__ == "__main__":
    main()
