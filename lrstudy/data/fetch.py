"""Bringing the images of `data.source` into data/raw/<class>/<image> (stage `fetch`).

Every file is decoded once here. What is not a usable image is skipped and listed with its
reason in metrics/dataset.json, never dropped silently. Formats TensorFlow cannot decode
(TIFF, ...) are converted to PNG; greyscale, palette, CMYK, RGBA and 16-bit images are kept
as they are and become RGB when the features are computed. Images over PIL's decompression-bomb
limit (~89 megapixels) are refused from their header, before any decoding. Byte-identical
images are listed as duplicates and kept: which copy, if any, is right is the user's call.
"""

import hashlib
import io
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from lrstudy.errors import UserError

TENSORFLOW_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"}
SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # PIL's decompression-bomb threshold, ~89 megapixels
warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # inspect_image reports it instead


def inspect_image(path):
    """(PIL format, sha256 of the bytes, None) for a usable image, else (None, None, reason)."""
    try:
        data = path.read_bytes()
    except OSError as error:  # broken symlink, symlink loop, no permission...
        return None, None, f"cannot read: {error.strerror or error}"
    if not data:
        return None, None, "empty file"
    try:
        with Image.open(io.BytesIO(data)) as image:
            # The header alone gives the size: refuse before decoding, so memory stays small.
            if image.width * image.height > MAX_PIXELS:
                return (
                    None,
                    None,
                    (
                        f"too large: {image.width}x{image.height} pixels, "
                        f"over the {MAX_PIXELS:,}-pixel "
                        "limit against decompression bombs; downscale it to use it"
                    ),
                )
            image.load()
            image_format = image.format
    except UnidentifiedImageError:
        return None, None, "not an image"
    except Image.DecompressionBombError as error:
        return None, None, f"too large to decode safely ({error})"
    except (OSError, SyntaxError, ValueError) as error:
        return None, None, f"cannot decode: {error}"
    return image_format, hashlib.sha256(data).hexdigest(), None


def is_hidden(name):
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def list_candidates(class_root):
    """(class names, [(class, path relative to class_root)], [skipped]) in a stable order.

    Symlinked folders are followed, each real folder read once, so a symlink loop ends.
    """
    class_root = Path(class_root)
    classes, files, skipped, seen = [], [], [], set()

    def skip(path, reason):
        skipped.append({"file": Path(path).relative_to(class_root).as_posix(), "reason": reason})

    for entry in sorted(class_root.iterdir()):
        if is_hidden(entry.name):
            skip(entry, "hidden or system file")
        elif not entry.is_dir():
            skip(entry, "not inside a class folder")
        else:
            classes.append(entry.name)
            for folder, subfolders, names in os.walk(entry, followlinks=True):
                if os.path.realpath(folder) in seen:
                    skip(folder, "folder already read through another path (symlink loop?)")
                    subfolders[:] = []
                    continue
                seen.add(os.path.realpath(folder))
                for name in [name for name in subfolders if is_hidden(name)]:
                    skip(Path(folder, name), "hidden folder")
                subfolders[:] = sorted(name for name in subfolders if not is_hidden(name))
                for name in sorted(names):
                    if is_hidden(name):
                        skip(Path(folder, name), "hidden or system file")
                    else:
                        files.append(
                            (entry.name, Path(folder, name).relative_to(class_root).as_posix())
                        )
    return classes, files, skipped


def duplicate_groups(files, digests):
    """Groups (2+) of byte-identical usable files: across classes they are label noise, across
    splits they leak test images into training."""
    by_digest = {}
    for (_, relative), digest in zip(files, digests, strict=True):
        if digest:
            by_digest.setdefault(digest, []).append(relative)
    return [group for group in by_digest.values() if len(group) > 1]


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
    for (label, relative), (image_format, _, reason) in zip(files, checks, strict=True):
        if reason:
            skipped.append({"file": relative, "reason": reason})
            continue
        written = copy_image(Path(class_root, relative), Path(output_dir, relative), image_format)
        if written.name != Path(relative).name:
            converted.append({"file": relative, "format": image_format, "saved_as": written.name})
        counts[label] += 1
    empty = [label for label, count in counts.items() if count == 0]
    return {
        "num_classes": len(classes) - len(empty),
        "num_images": sum(counts.values()),
        "images_per_class": {label: count for label, count in counts.items() if count},
        "empty_classes": empty,
        "converted": converted,
        "skipped": skipped,
        "duplicates": duplicate_groups(files, [digest for _, digest, _ in checks]),
    }
