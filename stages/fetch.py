"""Stage `fetch`: the images of `data.source` into data/raw/<class>/, each decoded once.

Unusable files are skipped and listed with their reason in metrics/dataset.json
(lrstudy/data/fetch.py says what is used, converted, skipped and reported).
"""

import shutil
import tempfile

from lrstudy.atomic import atomic_output, write_json
from lrstudy.data.archives import source_limits
from lrstudy.data.fetch import fetch
from lrstudy.data.sources import resolve_source
from lrstudy.errors import UserError
from lrstudy.params import load_params, stage_main, text
from lrstudy.paths import DATASET_REPORT, RAW_DIR


@stage_main
def main():
    params = load_params()
    source = text(params, "data.source")
    sha256 = params["data"].get("sha256")
    limits = source_limits(params)
    RAW_DIR.parent.mkdir(parents=True, exist_ok=True)
    for stale in RAW_DIR.parent.glob(".fetch-*"):  # a killed fetch's downloads and extractions
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(dir=RAW_DIR.parent, prefix=".fetch-") as workdir:
        class_root, refused = resolve_source(source, sha256, workdir, limits)
        print(f"fetch: reading classes from {class_root}")
        with atomic_output(RAW_DIR) as partial:
            report = fetch(class_root, partial, limits)
            report["skipped"] = refused + report["skipped"]
            write_json(DATASET_REPORT, {"source": source, **report})
            if not report["num_images"]:
                raise UserError(
                    f"no usable images under {class_root}: every file was skipped "
                    f"(reasons in {DATASET_REPORT})"
                )
    print(
        f"fetch: {report['num_images']} images in {report['num_classes']} classes; "
        f"{len(report['skipped'])} files skipped, {len(report['converted'])} converted, "
        f"{len(report['duplicates'])} groups of identical images (details in {DATASET_REPORT})"
    )


if __name__ == "__main__":
    main()
