"""Fixtures: photos of the embedded dataset and DVC projects in this test's tmp dir."""

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
