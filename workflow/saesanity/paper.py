"""Numbers the papers report, to print beside ours. Every entry cites where it comes from."""

from __future__ import annotations

from typing import NamedTuple


class PaperValue(NamedTuple):
    value: float
    note: str


_SANITY = "arXiv 2602.14111 sec. 3"
# Synthetic experiment, dictionary 3200, L0 20 (arXiv 2602.14111, section 3; PAPERS.md table).
SYNTHETIC: dict[tuple[str, str, str], PaperValue] = {
    ("constant", "batchtopk", "recovered_fraction"): PaperValue(3 / 3200, f"{_SANITY}: 3/3200 recovered"),
    ("constant", "jumprelu", "recovered_fraction"): PaperValue(3 / 3200, f"{_SANITY}: 3/3200 recovered"),
    ("constant", "topk", "recovered_fraction"): PaperValue(0.999, f"{_SANITY}: 99.9% recovered"),
    ("constant", "batchtopk", "explained_variance"): PaperValue(0.67, f"{_SANITY}: EV about 0.67"),
    ("constant", "jumprelu", "explained_variance"): PaperValue(0.67, f"{_SANITY}: EV about 0.67"),
    ("variable", "batchtopk", "recovered_fraction"): PaperValue(297 / 3200, f"{_SANITY}: 297/3200 recovered"),
    ("variable", "jumprelu", "recovered_fraction"): PaperValue(225 / 3200, f"{_SANITY}: 225/3200 recovered"),
    ("variable", "topk", "recovered_fraction"): PaperValue(0.43, f"{_SANITY}: best, up to about 43%"),
    ("variable", "batchtopk", "explained_variance"): PaperValue(0.71, f"{_SANITY}: EV 0.71"),
    ("variable", "jumprelu", "explained_variance"): PaperValue(0.71, f"{_SANITY}: EV 0.71"),
}


def synthetic_paper_value(distribution: str, arch: str, variant: str, metric: str) -> PaperValue | None:
    """The paper's number for a trained SAE on the synthetic data, if it reports one."""
    if variant != "trained":
        return None
    return SYNTHETIC.get((distribution, arch, metric))
