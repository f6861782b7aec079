"""Stage `fetch`: the images of `data.source` into data/raw/<class>/, each decoded once.

Unusable files are skipped and listed with their reason in metrics/dataset.json
(lrstudy/data/fetch.py says what is used, converted, skipped and reported).
"""

import shutil
import tempfile

from lrstudy.core.errors import UserError
from lrstudy.core.outputs import atomic_output, write_json
from lrstudy.core.paths import DATASET_REPORT, RAW_DIR
from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    from lrstudy.data.fetch import fetch
    from lrstudy.data.sources import resolve_source

    data = config.data
    RAW_DIR.parent.mkdir(parents=True, exist_ok=True)
    for stale in RAW_DIR.parent.glob(".fetch-*"):  # a killed fetch's downloads and extractions
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=RAW_DIR.parent, prefix=".fetch-") as workdir:
        class_root, refused = resolve_source(data.source, data.sha256, workdir, data)
        print(f"fetch: reading classes from {class_root}")
        with atomic_output(RAW_DIR) as partial:
            report = fetch(class_root, partial, data)
            report["skipped"] = refused + report["skipped"]
            write_json(DATASET_REPORT, {"source": data.source, **report})
            if not report["num_images"]:
                raise UserError(
                    f"no usable images under {class_root}: every file was skipped "
                    f"(reasons in {DATASET_REPORT})"
                )
            if report["num_classes"] == 1:
                raise UserError(
                    f"only one class, {next(iter(report['images_per_class']))}, in {class_root} "
                    "holds usable images: a classifier needs at least two (one sub-folder per "
                    "class)"
                )
    print(
        f"fetch: {report['num_images']} images in {report['num_classes']} classes; "
        f"{len(report['skipped'])} files skipped, {len(report['converted'])} converted, "
        f"{len(report['duplicates'])} groups of identical images (details in {DATASET_REPORT})"
    )


if __name__ == "__main__":
    main()
