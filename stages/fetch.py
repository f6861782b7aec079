"""Stage `fetch`: bring the images named by `data.source` into data/raw/<class>/<image>.

Every file is decoded once here. What is not a usable image is skipped and listed with its
reason in metrics/dataset.json, never dropped silently. Formats TensorFlow cannot decode
(TIFF, ...) are converted to PNG; greyscale, palette, CMYK, RGBA and 16-bit images are kept
as they are and become RGB when the features are computed.
"""

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from stages.errors import UserError, reports_user_errors
from stages.layout import METRICS_DIR, RAW_DIR, write_json
from stages.params import load_params, text
from stages.sources import resolve_source

TENSORFLOW_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"}
SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
DATASET_REPORT = METRICS_DIR / "dataset.json"


def inspect_image(path):
    """(PIL format name, None) for a decodable image, else (None, reason)."""
    if path.stat().st_size == 0:
        return None, "empty file"
    try:
        with Image.open(path) as image:
            image.load()
            return image.format, None
    except UnidentifiedImageError:
        return None, "not an image"
    except Image.DecompressionBombError as error:
        return None, f"too large to decode safely ({error})"
    except (OSError, SyntaxError, ValueError) as error:
        return None, f"cannot decode: {error}"


def list_candidates(class_root):
    """(class names, [(class, path relative to class_root)], [skipped]) in a stable order."""
    classes, files, skipped = [], [], []
    for entry in sorted(Path(class_root).iterdir()):
        relative = entry.relative_to(class_root).as_posix()
        if entry.name.startswith(".") or entry.name.lower() in SYSTEM_FILES:
            continue
        if not entry.is_dir():
            skipped.append({"file": relative, "reason": "not inside a class folder"})
            continue
        classes.append(entry.name)
        for folder, subfolders, names in os.walk(entry):
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
            for name in sorted(names):
                path = Path(folder, name)
                if name.startswith(".") or name.lower() in SYSTEM_FILES:
                    continue
                files.append((entry.name, path.relative_to(class_root).as_posix()))
    return classes, files, skipped


def copy_image(source, target, image_format):
    """Copy as-is if TensorFlow decodes the format, else convert to PNG; the written path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if image_format in TENSORFLOW_FORMATS:
        shutil.copyfile(source, target)
        return target
    target = target.with_suffix(".png")
    with Image.open(source) as image:
        image.convert("RGBA" if "A" in image.getbands() else "RGB").save(target, "PNG")
    return target


def fetch(class_root, output_dir):
    """Copy every usable image of class_root into output_dir; the dataset report."""
    classes, files, skipped = list_candidates(class_root)
    if not classes:
        raise UserError(f"no class folders in {class_root}: expected one sub-folder per class")
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        checks = list(
            tqdm(
                pool.map(lambda item: inspect_image(Path(class_root, item[1])), files),
                total=len(files),
                desc="decode images",
                unit="img",
            )
        )
    counts = dict.fromkeys(classes, 0)
    converted = []
    for (label, relative), (image_format, reason) in zip(files, checks):
        if reason:
            skipped.append({"file": relative, "reason": reason})
            continue
        written = copy_image(Path(class_root, relative), Path(output_dir, relative), image_format)
        if written.name != Path(relative).name:
            converted.append({"file": relative, "format": image_format, "saved_as": written.name})
        counts[label] += 1
    empty = [label for label, count in counts.items() if count == 0]
    if len(empty) == len(classes):
        raise UserError(f"no usable images under {class_root} (see {DATASET_REPORT})")
    return {
        "num_classes": len(classes) - len(empty),
        "num_images": sum(counts.values()),
        "images_per_class": {label: count for label, count in counts.items() if count},
        "empty_classes": empty,
        "converted": converted,
        "skipped": skipped,
    }


@reports_user_errors
def main():
    params = load_params()
    source = text(params, "data.source")
    sha256 = params["data"].get("sha256")
    RAW_DIR.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=RAW_DIR.parent, prefix=".fetch-") as workdir:
        class_root, refused = resolve_source(source, sha256, workdir)
        print(f"fetch: reading classes from {class_root}")
        partial = Path(workdir, "raw")
        report = fetch(class_root, partial)
        report["skipped"] = refused + report["skipped"]
        # Replace data/raw only once it is complete, so an interrupted fetch leaves nothing half-written.
        if RAW_DIR.exists():
            shutil.rmtree(RAW_DIR)
        partial.rename(RAW_DIR)
    write_json(DATASET_REPORT, {"source": source, **report})
    print(
        f"fetch: {report['num_images']} images in {report['num_classes']} classes; "
        f"{len(report['skipped'])} files skipped, {len(report['converted'])} converted "
        f"(details in {DATASET_REPORT})"
    )


if __name__ == "__main__":
    main()
