"""Stage `split`: stratified, seeded train/val/test manifests of data/raw (images are not copied).

lrstudy/data/split.py says how classes are split, and what happens to the smallest.
"""

from lrstudy.atomic import atomic_output, write_json
from lrstudy.data.manifests import write_manifests
from lrstudy.data.split import files_by_class, split_report, split_settings, stratified_split
from lrstudy.errors import UserError
from lrstudy.params import load_params, stage_main
from lrstudy.paths import RAW_DIR, SPLIT_DIR, SPLIT_REPORT


@stage_main
def main():
    val, test, seed = split_settings(load_params())
    found = files_by_class(RAW_DIR)
    if not found:
        raise UserError(f"{RAW_DIR} holds no class folders: run `dvc repro fetch` first")
    classes = sorted(found)
    splits, train_only = stratified_split(found, val, test, seed)

    with atomic_output(SPLIT_DIR) as partial:
        partial.mkdir()
        write_manifests(partial, splits, classes)
    write_json(SPLIT_REPORT, split_report(splits, classes, train_only))
    if train_only:
        print(f"split: too few images to split, kept in train only: {', '.join(train_only)}")
    print("split: " + ", ".join(f"{name} {len(rows)}" for name, rows in splits.items()))


if __name__ == "__main__":
    main()
