import shutil
import sys
from collections import Counter

import pytest

from lrstudy.core.config import ParamError, SplitConfig, parse_group
from lrstudy.core.errors import UserError
from lrstudy.data.split import fold_splits, split_counts, stratified_split
from tests.helpers.commands import run
from tests.helpers.sandbox import REPO_ROOT, set_params


def split(validation, test, seed, folds=5, training_per_class=None):
    return SplitConfig(
        validation=validation,
        test=test,
        seed=seed,
        folds=folds,
        training_per_class=training_per_class,
    )


def dataset(sizes):
    return {
        label: [f"{label}/image_{i:04d}.jpg" for i in range(size)] for label, size in sizes.items()
    }


def test_counts_round_per_class_and_never_empty_a_split():
    assert split_counts(100, 0.15, 0.15) == (70, 15, 15)
    assert split_counts(34, 0.15, 0.15) == (24, 5, 5)
    assert split_counts(3, 0.15, 0.15) == (1, 1, 1)
    assert split_counts(2, 0.15, 0.15) is None
    assert split_counts(2, 0.5, 0.0) == (1, 1, 0)
    assert split_counts(4, 0.45, 0.45) == (1, 1, 2)  # both round to 2; validation gives one


def test_split_is_stratified_complete_and_disjoint():
    files = dataset({"a": 200, "b": 34, "c": 60})
    splits, training_only = stratified_split(files, split(0.15, 0.15, 42))
    assert training_only == []
    all_paths = [path for rows in splits.values() for path, _ in rows]
    assert sorted(all_paths) == sorted(p for paths in files.values() for p in paths)
    assert Counter(label for _, label in splits["validation"]) == {"a": 30, "b": 5, "c": 9}
    assert Counter(label for _, label in splits["test"]) == {"a": 30, "b": 5, "c": 9}


def test_same_seed_same_split_other_seed_other_split():
    files = dataset({"a": 50, "b": 50})
    first, _ = stratified_split(files, split(0.2, 0.2, 1))
    assert stratified_split(files, split(0.2, 0.2, 1))[0] == first
    assert stratified_split(files, split(0.2, 0.2, 2))[0] != first


def test_adding_a_class_leaves_the_other_classes_split_unchanged():
    before, _ = stratified_split(dataset({"a": 40, "b": 40}), split(0.2, 0.2, 7))
    after, _ = stratified_split(dataset({"a": 40, "b": 40, "c": 40}), split(0.2, 0.2, 7))
    for name in before:
        assert [row for row in after[name] if row[1] != "c"] == before[name]


def test_classes_too_small_to_split_stay_in_training_and_are_named():
    splits, training_only = stratified_split(
        dataset({"big": 20, "tiny": 2, "single": 1}), split(0.15, 0.15, 0)
    )
    assert training_only == ["single", "tiny"]
    assert Counter(label for _, label in splits["training"])["tiny"] == 2
    assert all(label == "big" for name in ("validation", "test") for _, label in splits[name])


def test_the_folds_test_every_image_once_each_class_in_proportion():
    files = dataset({"a": 200, "b": 34, "c": 60, "d": 7})
    folds = fold_splits(files, split(0.15, 0.15, 42))
    tested = [row for fold in folds for row in fold["test"]]
    assert sorted(tested) == sorted((p, label) for label, ps in files.items() for p in ps)
    for label, paths in files.items():  # each class spread over the folds to one image
        counts = [sum(row[1] == label for row in fold["test"]) for fold in folds]
        assert max(counts) - min(counts) <= 1 and sum(counts) == len(paths)
    assert len({len(fold["training"]) for fold in folds}) == 1  # one graph, batch for batch
    for fold in folds:
        training, validation = set(fold["training"]), set(fold["validation"])
        assert not training & validation and not (training | validation) & set(fold["test"])
        assert len(training | validation | set(fold["test"])) == 301
        assert len(validation) >= round(0.15 * 301)  # the validation share, and the rest
        shares = Counter(label for _, label in fold["validation"])
        assert shares["a"] > shares["c"] > shares["b"] >= shares["d"] >= 1
    assert fold_splits(files, split(0.15, 0.15, 42)) == folds
    assert fold_splits(files, split(0.15, 0.15, 43)) != folds


def test_a_regime_of_fewer_training_images_keeps_every_validation_and_test_image():
    files = dataset({"a": 200, "b": 34, "c": 60})
    full, _ = stratified_split(files, split(0.15, 0.15, 42))
    fewer, _ = stratified_split(files, split(0.15, 0.15, 42, training_per_class=15))
    assert Counter(label for _, label in fewer["training"]) == {"a": 15, "b": 15, "c": 15}
    assert set(fewer["training"]) < set(full["training"])
    for name in ("validation", "test"):
        assert fewer[name] == full[name]
    all_folds = fold_splits(files, split(0.15, 0.15, 42))
    folds = fold_splits(files, split(0.15, 0.15, 42, training_per_class=22))
    for limited, whole in zip(folds, all_folds, strict=True):
        assert limited["validation"] == whole["validation"] and limited["test"] == whole["test"]
        assert set(limited["training"]) < set(whole["training"])
        counts = Counter(label for _, label in limited["training"])
        # b's smallest share in a fold's training set is below 22: every fold keeps that many
        smallest = min(sum(row[1] == "b" for row in fold["training"]) for fold in all_folds)
        assert counts == {"a": 22, "b": min(22, smallest), "c": 22}
    assert len({len(fold["training"]) for fold in folds}) == 1  # one graph, batch for batch
    assert fold_splits(files, split(0.15, 0.15, 42, training_per_class=22)) == folds


def test_training_per_class_takes_a_positive_count_or_all():
    base = {"validation": 0.15, "test": 0.15, "seed": 0, "folds": 5}
    assert parse_group("split", {**base, "training_per_class": "all"}).training_per_class is None
    assert parse_group("split", {**base, "training_per_class": "15"}).training_per_class == 15
    with pytest.raises(ParamError) as error:
        parse_group("split", {**base, "training_per_class": 0})
    assert str(error.value) == (
        "params.yaml: split.training_per_class = 0 is not allowed; expected an integer >= 1, or all"
    )


def test_too_few_images_for_the_folds_is_one_line():
    with pytest.raises(UserError) as error:
        fold_splits(dataset({"a": 3}), split(0.15, 0.15, 0))
    assert str(error.value) == (
        "3 images cannot fill 5 folds with a training, validation and test image each: lower "
        "split.folds or add images"
    )
    with pytest.raises(ParamError, match=r"split.validation \+ 1 / split.folds = 1.0"):
        parse_group(
            "split",
            {"validation": 0.5, "test": 0.1, "seed": 0, "folds": 2, "training_per_class": "all"},
        )
    with pytest.raises(ParamError, match="split.folds = 1 is not allowed"):
        parse_group(
            "split",
            {"validation": 0.1, "test": 0.1, "seed": 0, "folds": 1, "training_per_class": "all"},
        )


def test_fractions_that_leave_no_training_data_are_refused():
    with pytest.raises(ParamError, match=r"split.validation \+ split.test = 1.0"):
        parse_group(
            "split",
            {"validation": 0.5, "test": 0.5, "seed": 0, "folds": 5, "training_per_class": "all"},
        )
    with pytest.raises(ParamError, match="split.validation = -0.1"):
        parse_group(
            "split",
            {"validation": -0.1, "test": 0.1, "seed": 0, "folds": 5, "training_per_class": "all"},
        )


def run_split(tmp_path, images_per_class, overrides=None):
    """`python -m stages.split` on a data/raw of `images_per_class` {class: count} files."""
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    set_params(tmp_path / "params.yaml", overrides or {})
    for label, count in images_per_class.items():
        (tmp_path / "data" / "raw" / label).mkdir(parents=True)
        for index in range(count):
            (tmp_path / "data" / "raw" / label / f"{index}.png").write_bytes(b"")
    command = [sys.executable, "-m", "stages.split"]
    return run(command, tmp_path, check=False, PYTHONPATH=str(REPO_ROOT))


@pytest.mark.parametrize(
    "counts, overrides, line",
    [
        (
            {"a": 1, "b": 2},
            {},
            "error: the split leaves no validation and no test images: every class is too small "
            "to give one to each split (it takes 3 images; a, b are kept in training only); add "
            "images, or use a dataset with larger classes",
        ),
        (
            {"a": 10, "b": 10},
            {"split.validation": 0},
            "error: params.yaml: split.validation = 0 is not allowed; expected a number > 0 <= 1",
        ),
    ],
)
def test_a_split_without_validation_or_test_images_is_refused(tmp_path, counts, overrides, line):
    result = run_split(tmp_path, counts, overrides)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.splitlines() == [line]
    assert not (tmp_path / "data" / "split").exists()


def test_a_class_too_small_beside_larger_ones_stays_in_training(tmp_path):
    result = run_split(tmp_path, {"big": 10, "tiny": 2})
    assert result.returncode == 0, result.stderr
    assert "kept in training only: tiny" in result.stdout
