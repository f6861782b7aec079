"""Fixtures: photos of the embedded dataset, DVC projects and small file systems in this test's
tmp dir."""

import subprocess

import pytest

from tests.helpers.images import copy_sample
from tests.helpers.sandbox import FAST, make_project


@pytest.fixture
def sample_dataset(tmp_path):
    """copy_sample into this test's tmp dir: sample_dataset(classes, per_class) -> its root."""
    return lambda **options: copy_sample(tmp_path / "sample", **options)


@pytest.fixture
def project(tmp_path):
    """make_project in this test's tmp dir: project(params_overrides) -> its root."""
    return lambda params_overrides=None: make_project(tmp_path / "project", params_overrides)


@pytest.fixture
def pipeline(project, sample_dataset):
    """A project on 8 real photos of each of 3 classes, with the FAST params."""
    return project({"data.source": str(sample_dataset()), **FAST})


def mounted(folder, options):
    """A real tmpfs at `folder` with mount `options`, where this user may mount one."""
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    return folder


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB file system (tmpfs)."""
    yield mounted(tmp_path / "disk", "size=1m")
    subprocess.run(["umount", str(tmp_path / "disk")], check=True)


@pytest.fixture
def read_only_disk(tmp_path):
    """A real read-only file system (tmpfs): even root cannot write there."""
    yield mounted(tmp_path / "read-only", "ro,size=1m")
    subprocess.run(["umount", str(tmp_path / "read-only")], check=True)
