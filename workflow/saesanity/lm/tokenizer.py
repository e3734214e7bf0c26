"""The toy world's tokenizer: word level, trained with `tokenizers` on the training documents, saved in
Hugging Face form (tokenizer.json + tokenizer_config.json) so that `AutoTokenizer.from_pretrained(folder)`
and transformer_lens load it like any other.

Word level because the world's words are its concepts: one word is one token, so the corpus's per-word
concept tags are per-token tags and every attribute answer is one next token."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from saesanity.atomic import atomic_path

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL = [PAD, BOS, EOS, UNK]


def train_tokenizer(texts: Iterable[str], min_frequency: int = 1):
    """A WordLevel tokenizer over whitespace-separated words; ids 0-3 are the special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL, min_frequency=min_frequency, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok, folder: str | Path) -> None:
    """Hugging Face form, written atomically."""
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                 unk_token=UNK, model_max_length=1 << 20)
    with atomic_path(folder) as tmp:
        hf.save_pretrained(str(tmp))


def load_tokenizer(folder: str | Path):
    """The tokenizer as transformers' PreTrainedTokenizerFast."""
    from transformers import AutoTokenizer
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{folder}: no tokenizer.json; not a saved tokenizer")
    return AutoTokenizer.from_pretrained(str(folder))
