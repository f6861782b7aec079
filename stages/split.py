"""Stage `split`: stratified, seeded training/validation/test manifests of data/raw (images are
not copied), and the same three of each of the study's `split.folds` folds.

lrstudy/data/split.py says how classes are split, what happens to the smallest, and how the
folds test every image once.
"""

from lrstudy.core.datasets import raw_images, write_manifests
from lrstudy.core.errors import UserError
from lrstudy.core.outputs import atomic_output, write_json
from lrstudy.core.paths import RAW_DIR, SPLIT_DIR, SPLIT_REPORT
from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.data.split import fold_splits, refuse_empty, split_report, stratified_split

    found = raw_images()
    if not found:
        raise UserError(f"{RAW_DIR} holds no class folders: run `dvc repro fetch` first")
    classes = sorted(found)
    splits, training_only = stratified_split(found, config.split)
    refuse_empty(splits, training_only)
    folds = fold_splits(found, config.split)

    with atomic_output(SPLIT_DIR) as partial:
        partial.mkdir()
        write_manifests(partial, splits, classes, folds)
    write_json(SPLIT_REPORT, split_report(splits, classes, training_only, folds))
    if training_only:
        print(f"split: too few images to split, kept in training only: {', '.join(training_only)}")
    print("split: " + ", ".join(f"{name} {len(rows)}" for name, rows in splits.items()))
    sizes = {name: sorted({len(fold[name]) for fold in folds}) for name in splits}
    print(
        f"split: {len(folds)} folds, each "
        + ", ".join(f"{name} {'-'.join(map(str, counts))}" for name, counts in sizes.items())
    )


if __name__ == "__main__":
    main()
