"""Fixtures: photos of the embedded dataset, small generated images, DVC projects in tmp dirs."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lrstudy.sandbox import REPO_ROOT, make_project

EMBEDDED_DATASET = REPO_ROOT / "data" / "caltech101-animals.tar"
# Small enough for CI: Lite0 at 64 px, a few epochs.
FAST = {
    "model.backbone": "efficientnet_lite0",
    "model.image_size": 64,
    "train.epochs": 4,
    "train.batch_size": 8,
    "train.repeats": 3,
    "finetune.epochs": 2,
    "finetune.unfreeze_blocks": 1,
    "finetune.batch_size": 8,
}


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


def copy_sample(root, classes=("Leopards", "crab", "okapi"), per_class=8):
    """The first `per_class` real photos of each class, from the embedded dataset's archive."""
    with tarfile.open(EMBEDDED_DATASET) as archive:
        members = sorted(archive.getmembers(), key=lambda member: member.name)
        for label in classes:
            (root / label).mkdir(parents=True)
            photos = [member for member in members if member.name.split("/")[1] == label][
                :per_class
            ]
            for member in photos:
                (root / label / Path(member.name).name).write_bytes(
                    archive.extractfile(member).read()
                )
    return root


@pytest.fixture
def sample_dataset(tmp_path):
    """copy_sample into this test's tmp dir: sample_dataset(classes, per_class) -> its root."""
    return lambda **options: copy_sample(tmp_path / "sample", **options)


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
            f"{command} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def dvc(*args, cwd, check=True, **extra_env):
    return run([sys.executable, "-m", "dvc", *args], cwd, check, **extra_env)


@pytest.fixture
def project(tmp_path):
    """make_project in this test's tmp dir: project(params_overrides) -> its root."""
    return lambda params_overrides=None: make_project(tmp_path / "project", params_overrides)


@pytest.fixture
def pipeline(project, sample_dataset):
    """A project on 8 real photos of each of 3 classes, with the FAST params."""
    return project({"data.source": str(sample_dataset()), **FAST})


def ran_stages(output):
    """The stages `dvc repro` ran, in order, from its output."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]
