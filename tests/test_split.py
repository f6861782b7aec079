from collections import Counter

import pytest

from lrstudy.data.split import split_counts, split_settings, stratified_split
from lrstudy.params import ParamError


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
    assert split_counts(4, 0.45, 0.45) == (1, 1, 2)  # both round to 2; val gives one back


def test_split_is_stratified_complete_and_disjoint():
    files = dataset({"a": 200, "b": 34, "c": 60})
    splits, train_only = stratified_split(files, 0.15, 0.15, seed=42)
    assert train_only == []
    all_paths = [path for rows in splits.values() for path, _ in rows]
    assert sorted(all_paths) == sorted(p for paths in files.values() for p in paths)
    assert Counter(label for _, label in splits["val"]) == {"a": 30, "b": 5, "c": 9}
    assert Counter(label for _, label in splits["test"]) == {"a": 30, "b": 5, "c": 9}


def test_same_seed_same_split_other_seed_other_split():
    files = dataset({"a": 50, "b": 50})
    first, _ = stratified_split(files, 0.2, 0.2, seed=1)
    assert stratified_split(files, 0.2, 0.2, seed=1)[0] == first
    assert stratified_split(files, 0.2, 0.2, seed=2)[0] != first


def test_adding_a_class_leaves_the_other_classes_split_unchanged():
    before, _ = stratified_split(dataset({"a": 40, "b": 40}), 0.2, 0.2, seed=7)
    after, _ = stratified_split(dataset({"a": 40, "b": 40, "c": 40}), 0.2, 0.2, seed=7)
    for name in before:
        assert [row for row in after[name] if row[1] != "c"] == before[name]


def test_classes_too_small_to_split_stay_in_train_and_are_named():
    splits, train_only = stratified_split(
        dataset({"big": 20, "tiny": 2, "single": 1}), 0.15, 0.15, 0
    )
    assert train_only == ["single", "tiny"]
    assert Counter(label for _, label in splits["train"])["tiny"] == 2
    assert all(label == "big" for name in ("val", "test") for _, label in splits[name])


def test_fractions_that_leave_no_train_data_are_refused():
    with pytest.raises(ParamError, match=r"split.val \+ split.test = 1.0"):
        split_settings({"split": {"val": 0.5, "test": 0.5, "seed": 0}})
    with pytest.raises(ParamError, match="split.val"):
        split_settings({"split": {"val": -0.1, "test": 0.1, "seed": 0}})
