"""The conda environment the rules name (--sdm conda) pins what the pip path pins."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def constraint_pins() -> list[str]:
    lines = (REPO / "envs/constraints.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_every_rule_names_the_environment_and_it_exists():
    common = (REPO / "workflow/rules/common.smk").read_text()
    env = re.search(r'^CONDA_ENV = "([^"]+)"$', common, re.M).group(1)
    assert (REPO / "workflow/rules" / env).resolve() == REPO / "envs/saesanity.yaml"
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        text = smk.read_text()
        rules = len(re.findall(r"^\s*rule( \w+)?:", text, re.M))
        assert len(re.findall(r"conda:\s*\n\s*CONDA_ENV\n", text)) == rules, smk.name


def test_conda_env_pins_equal_the_pip_constraints():
    env = yaml.safe_load((REPO / "envs/saesanity.yaml").read_text())
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert len(pip) == 1
    assert pip[0]["pip"] == constraint_pins()
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    pyproject = (REPO / "pyproject.toml").read_text()
    minimum = re.search(r'requires-python = ">=(\d+\.\d+)"', pyproject).group(1)
    assert python == [f"python={minimum}"]


def test_post_deploy_installs_the_repository_as_the_readme_does():
    script = (REPO / "envs/saesanity.post-deploy.sh").read_text()
    assert "pip install -c envs/constraints.txt -e ." in script
    assert 'pip install -c envs/constraints.txt -e ".[test]"' in (REPO / "README.md").read_text()
