"""Shared fixtures: the real shared dataset, small generated images, and DVC projects in tmp dirs."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "caltech101-animals"
PROJECT_FILES = ("dvc.yaml", "params.yaml", "study.yaml", "stages", ".gitignore")


def write_image(path, size=(40, 30), mode="RGB", image_format=None, seed=0):
    """A small real image file with random pixels."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode == "I;16":
        image = Image.fromarray(pixels[..., 0].astype(np.uint16) * 256)
    elif mode != "RGB":
        image = image.convert(mode)
    image.save(path, image_format)
    return path


@pytest.fixture
def shared_dataset():
    if not SHARED_DATASET.is_dir():
        pytest.skip(f"the shared dataset is not at {SHARED_DATASET} (see DEVELOPERS.md)")
    return SHARED_DATASET


@pytest.fixture
def sample_dataset(shared_dataset, tmp_path):
    """A few real photos per class, copied from the shared dataset (which stays read-only)."""

    def make(classes=("Leopards", "crab", "okapi"), per_class=8):
        root = tmp_path / "sample"
        for label in classes:
            for image in sorted((shared_dataset / label).iterdir())[:per_class]:
                (root / label).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(image, root / label / image.name)
        return root

    return make


def stage_env(**extra):
    """The environment the stages run in: this venv's python and dvc first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def run(command, cwd, check=True, **extra_env):
    """Run a command as a user would; returns the CompletedProcess with text output."""
    result = subprocess.run(
        command, cwd=cwd, env=stage_env(**extra_env), capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def dvc(*args, cwd, check=True, **extra_env):
    return run([sys.executable, "-m", "dvc", *args], cwd, check, **extra_env)


@pytest.fixture
def project(tmp_path):
    """A fresh git + DVC repository holding a copy of this project's pipeline."""

    def make(params_overrides=None):
        root = tmp_path / "project"
        root.mkdir()
        for name in PROJECT_FILES:
            source = REPO_ROOT / name
            if source.is_dir():
                shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copyfile(source, root / name)
        if params_overrides:
            import yaml

            params = yaml.safe_load((root / "params.yaml").read_text())
            for key, value in params_overrides.items():
                group, name = key.split(".")
                params[group][name] = value
            (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run(["git", "init", "-q"], root)
        run(["git", "config", "user.email", "tests@example.com"], root)
        run(["git", "config", "user.name", "tests"], root)
        dvc("init", "-q", cwd=root)
        dvc("config", "core.analytics", "false", cwd=root)
        run(["git", "add", "-A"], root)
        run(["git", "commit", "-qm", "pipeline"], root)
        return root

    return make
