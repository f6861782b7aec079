"""A throwaway copy of this project's pipeline in a fresh git + DVC repository (tests, bench)."""

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from lrstudy.core.config import parse_config
from lrstudy.experiments import run_dvc

REPO_ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_DATASET = REPO_ROOT / "data" / "caltech101-animals.tar"
PIPELINE_FILES = (
    "dvc.yaml",
    "params.yaml",
    "study.yaml",
    ".gitignore",
    ".dvcignore",
    "stages",
    "lrstudy",
    "tools",
    "data/caltech101-animals.tar",
)
# Small enough for CI: Lite0 at 64 px, a few epochs.
FAST = {
    "backbone.name": "efficientnet_lite0",
    "backbone.image_size": 64,
    "head.epochs": 4,
    "head.batch_size": 8,
    "head.repeats": 3,
    "finetune.epochs": 2,
    "finetune.unfreeze_blocks": 1,
    "finetune.batch_size": 8,
}


def yaml_scalar(value):
    """`value` as YAML that reads back as the same value (1e-05 as 1.0e-05, "yes" quoted)."""
    return yaml.safe_dump(value, width=float("inf")).splitlines()[0]


def committed_params(overrides=None):
    """This repository's params.yaml as a dict, with `group.key` (or `group.sub.key`)
    overrides."""
    params = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
    for key, value in (overrides or {}).items():
        *groups, name = key.split(".")
        place = params
        for group in groups:
            place = place[group]
        place[name] = value
    return params


def committed_config(overrides=None):
    """The Config of this repository's params.yaml, with `group.key` overrides."""
    return parse_config(committed_params(overrides))


def set_params(path, overrides):
    """Set `group.key` (or `group.sub.key`) values in a params.yaml in place, keeping its
    comments and layout."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    parents, missing = [], set(overrides)  # [(indent, key)] of the mappings around a line
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*)(\w+):\s*([^#]*?)(\s*#.*)?$", line)
        if not match:
            continue
        indent = len(match.group(1))
        parents = [(depth, name) for depth, name in parents if depth < indent]
        key = ".".join([name for _, name in parents] + [match.group(2)])
        if not match.group(3):
            parents.append((indent, match.group(2)))
        if key in overrides:
            indent, name, comment = match.group(1), match.group(2), match.group(4) or ""
            lines[index] = f"{indent}{name}: {yaml_scalar(overrides[key])}{comment}"
            missing.discard(key)
    if missing:
        raise KeyError(f"{path} has no {', '.join(sorted(missing))}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_project(root, params_overrides=None):
    """This repository's pipeline, committed in a new git + DVC repository at `root`.

    `params_overrides` maps `group.key` to values. Another `data.source` clears `data.sha256`,
    the embedded archive's checksum, unless it is given too.
    """
    root = Path(root)
    root.mkdir(parents=True)
    for name in PIPELINE_FILES:
        source, target = REPO_ROOT / name, root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(source, target)
    overrides = dict(params_overrides or {})
    if "data.source" in overrides:
        overrides.setdefault("data.sha256", None)
    if overrides:
        set_params(root / "params.yaml", overrides)
    return commit_repository(root, dvc_files=REPO_ROOT / ".dvc")


DVC_FILES = ("config", "plots")  # what git tracks of .dvc/: its settings and plot templates


def commit_repository(root, message="pipeline", dvc_files=None):
    """The files at `root` committed in a new git + DVC repository, with DVC_FILES copied from
    the .dvc folder `dvc_files`, if given."""

    def git(*args):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.name", "lrstudy")
    git("config", "user.email", "lrstudy@localhost")
    run_dvc("init", "-q", cwd=root)
    run_dvc("config", "core.analytics", "false", cwd=root)
    for name in DVC_FILES if dvc_files is not None else ():
        source, target = Path(dvc_files) / name, root / ".dvc" / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    git("add", "-A")
    git("commit", "-qm", message)
    return root
