"""Bringing the images of `data.source` into data/raw/<class>/<image> (stage `fetch`).

Every file is decoded here twice: by PIL, rendered as a person sees it (8-bit RGB, samples
wider than 8 bits scaled down), and by TensorFlow as the features and fine-tuning will decode
it. A file TensorFlow decodes into what it shows is copied as it is; any other is stored as PNG,
as PIL shows it, with the reason in metrics/dataset.json's `converted`: a format TensorFlow
cannot decode (TIFF, ...), an animation (its first frame), a file TensorFlow refuses (a PNG
with a bad checksum, a 1-bit BMP) or decodes otherwise (a palette BMP read as grey indices).
What is not a usable image is skipped and listed with its reason, never dropped silently. Two
files that would be stored under one name (a.tif and a.png) keep the first; the other is
skipped, with its reason. Images over PIL's decompression-bomb
limit (~89 megapixels) are refused from their header, before any decoding. Byte-identical
images are listed as duplicates and kept: which copy, if any, is right is the user's call.
"""

import errno
import hashlib
import os
import re
import shutil
import unicodedata
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from lrstudy.core.datasets import decode_image
from lrstudy.core.errors import UserError, reports_full_disk
from lrstudy.data.archives import too_many_files

TENSORFLOW_FORMATS = {"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP"}
SYSTEM_FILES = {"thumbs.db", "desktop.ini"}
MAX_PIXELS = Image.MAX_IMAGE_PIXELS  # PIL's decompression-bomb threshold, ~89 megapixels
NAME_BYTES = 255  # the longest file name most file systems hold
JPEG_TOLERANCE = 2  # levels of 255 on average: PIL's and TensorFlow's JPEG decoders round apart
warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # inspect_image reports it instead


def file_digest(path):
    """sha256 of a file, read in chunks: memory stays small whatever its size."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@dataclass(frozen=True)
class Inspection:
    """What fetch learnt of one file by decoding it."""

    image_format: str | None = None  # PIL's name of its format; None: not usable
    digest: str | None = None  # sha256 of its bytes
    reason: str | None = None  # why it is skipped
    frames: int = 0  # more than one for an animation (GIF, APNG, WebP, MPO)
    conversion: str | None = None  # why it is stored as PNG, as PIL shows it; None: copied


def rendered(image):
    """The first frame as a person sees it, as the 8-bit RGB that TensorFlow gives the backbone
    (which drops alpha too): samples wider than 8 bits scaled down, not clipped to white;
    palettes and bilevel images resolved. A ValueError for samples that have no such view."""
    if image.mode.startswith("I;16") or image.mode == "I":
        samples = np.asarray(image, dtype=np.int64)
        if samples.size and (samples.min() < 0 or samples.max() > 65535):
            raise ValueError(f"{image.mode} samples beyond 16 bits")
        return Image.fromarray((samples >> 8).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        raise ValueError("floating-point samples")
    return image.convert("RGB")


def tensorflow_message(error):
    """TensorFlow's error without its op wrapping: `Invalid PNG data, size 2396`."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return re.sub(r"^\{\{[^}]*\}\}\s*|\s*\[Op:\w+\].*$", "", text)


def conversion_needed(path, image, frames):
    """Why the image must be stored as PIL shows it, or None when TensorFlow decodes the file
    itself into what it shows (JPEG decoders may round apart, by at most a level on average)."""
    wide = image.mode.startswith("I") and "; 16-bit samples scaled to 8 bits"
    shown = np.asarray(rendered(image), dtype=np.int16)  # a ValueError: no view of it to store
    if image.format not in TENSORFLOW_FORMATS:
        return "a format TensorFlow cannot decode" + (wide or "")
    if frames > 1:
        return "an animation: its first frame"
    try:
        decoded = decode_image(str(path)).numpy().astype(np.int16)
    except Exception as error:  # TensorFlow's own errors, whatever their class
        return f"TensorFlow cannot decode it ({tensorflow_message(error)}); stored as PIL shows it"
    tolerance = JPEG_TOLERANCE if image.format in ("JPEG", "MPO") else 0
    if decoded.shape != shown.shape or np.abs(decoded - shown).mean() > tolerance:
        return "TensorFlow decodes it otherwise than it looks; stored as PIL shows it"
    return None


def inspect_image(path):
    """An Inspection of one file: it is read in chunks (never whole into memory), then decoded
    by PIL, rendered as a person sees it and compared with what TensorFlow decodes."""
    try:
        if path.exists() and not path.is_file():  # reading a named pipe would wait forever
            return Inspection(reason="not a regular file (a named pipe, socket or device)")
        if path.stat().st_size == 0:
            return Inspection(reason="empty file")
        digest = file_digest(path)
    except OSError as error:  # broken symlink, symlink loop, no permission...
        return Inspection(reason=f"cannot read: {error.strerror or error}")
    try:
        with Image.open(path) as image:
            # The header alone gives the size: refuse before decoding, so memory stays small.
            if image.width * image.height > MAX_PIXELS:
                reason = (
                    f"too large: {image.width}x{image.height} pixels, over the {MAX_PIXELS:,}-"
                    "pixel limit against decompression bombs; downscale it to use it"
                )
                return Inspection(reason=reason)
            image.load()
            frames = image.n_frames if getattr(image, "is_animated", False) else 1
            conversion = conversion_needed(path, image, frames)
            return Inspection(image.format, digest, None, frames, conversion)
    except UnidentifiedImageError:
        return Inspection(reason="not an image")
    except Image.DecompressionBombError as error:
        return Inspection(reason=f"too large to decode safely ({error})")
    except (EOFError, OSError, SyntaxError, ValueError) as error:
        return Inspection(reason=f"cannot decode: {error}")


def is_hidden(name):
    return name.startswith(".") or name.lower() in SYSTEM_FILES


def undecodable(name):
    """Whether a file name is not valid UTF-8 (Python keeps its bytes as surrogates, which no
    manifest or report can be written with)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def inside(path, root):
    """Whether `path`, its symlinks resolved, lies within the folder `root` (resolved)."""
    return Path(os.path.realpath(path)).is_relative_to(root)


def refuse_two_spellings(classes, class_root):
    """One class name written twice in Unicode (é as one code point and as e + accent, NFC and
    NFD: macOS and Linux spell file names differently) would become two classes."""
    spelled = {}
    for name in classes:
        other = spelled.setdefault(unicodedata.normalize("NFC", name), name)
        if other != name:
            raise UserError(
                f"{class_root} has the class folders {other!r} and {name!r}, one name in two "
                "Unicode spellings (NFC and NFD): move the images of one into the other"
            )


NOT_UTF8 = "its name is not valid UTF-8; rename it"
OUTSIDE = "a symlink to outside the source; not followed"


def skip_reason(path, real_root):
    """Why a file (or class folder) of a source is not read, or None."""
    if undecodable(str(path)):
        return NOT_UTF8
    if is_hidden(path.name):
        return "hidden or system file"
    if not inside(path, real_root):
        return OUTSIDE
    return None


def class_files(entry, real_root, seen, skip):
    """The files under the class folder `entry`, each real folder read once (`seen`: the real
    folders read so far), sub-folders followed unless hidden or outside `real_root`;
    `skip(path, reason)` for everything else."""
    for folder, subfolders, names in os.walk(entry, followlinks=True):
        if os.path.realpath(folder) in seen:
            skip(folder, "folder already read through another path (symlink loop?)")
            subfolders[:] = []
            continue
        seen.add(os.path.realpath(folder))
        kept = []
        for name in sorted(subfolders):
            path = Path(folder, name)
            reason = "hidden folder" if is_hidden(name) else skip_reason(path, real_root)
            if reason:
                skip(path, reason)
            else:
                kept.append(name)
        subfolders[:] = kept
        for name in sorted(names):
            path = Path(folder, name)
            if reason := skip_reason(path, real_root):
                skip(path, reason)
            else:
                yield path


def list_candidates(class_root, max_files=None):
    """(class names, [(class, path relative to class_root)], [skipped]) in a stable order.

    Symlinked folders are followed, each real folder read once, so a symlink loop ends; a
    symlink (to a folder or a file) that leads outside class_root is skipped, not followed.
    Past `max_files` files (data.max_files) the listing stops: too_many_files."""
    class_root = Path(class_root)
    real_root = Path(os.path.realpath(class_root))
    classes, files, skipped, seen = [], [], [], set()

    def skip(path, reason):
        relative = Path(path).relative_to(class_root).as_posix()
        skipped.append({"file": relative.encode("utf-8", "replace").decode(), "reason": reason})

    for entry in sorted(class_root.iterdir()):
        reason = skip_reason(entry, real_root)
        if reason or not entry.is_dir():
            skip(entry, reason or "not inside a class folder")
            continue
        classes.append(entry.name)
        for path in class_files(entry, real_root, seen, skip):
            files.append((entry.name, path.relative_to(class_root).as_posix()))
            if max_files is not None and len(files) > max_files:
                return classes, files, skipped
    refuse_two_spellings(classes, class_root)
    return classes, files, skipped


def duplicate_groups(files, digests):
    """Groups (2+) of byte-identical usable files: across classes they are label noise, across
    splits they leak test images into training."""
    by_digest = {}
    for (_, relative), digest in zip(files, digests, strict=True):
        if digest:
            by_digest.setdefault(digest, []).append(relative)
    return [group for group in by_digest.values() if len(group) > 1]


def copy_image(source, target, as_png):
    """Copy the file to `target`, or write its first frame there as PNG, as PIL shows it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not as_png:
        shutil.copyfile(source, target)
        return
    with Image.open(source) as image:
        rendered(image).save(target, "PNG")


def size_of(path):
    """The file's size; 0 for one that cannot be read (inspect_image says why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def check_limits(class_root, files, limits):
    """Refuse a source over data.max_files or data.max_gb before anything is copied."""
    if len(files) > limits.max_files:
        raise too_many_files(class_root, limits)
    size = sum(size_of(Path(class_root, relative)) for _, relative in files)
    if size > limits.max_bytes:
        raise UserError(
            f"{class_root} holds {size / 1e9:.3g} GB, more than data.max_gb = "
            f"{limits.max_gb:g} GB; raise it if the dataset really is that large"
        )


def inspect_all(class_root, files):
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(
            tqdm(
                pool.map(lambda item: inspect_image(Path(class_root, item[1])), files),
                total=len(files),
                desc="decode images",
                unit="img",
            )
        )


def store_images(class_root, output_dir, files, checks, skipped):
    """Copy (or convert) each usable image; (images per class, converted), reasons to skip
    appended to `skipped`."""
    counts, converted, stored = {}, [], {}
    for (label, relative), check in zip(files, checks, strict=True):
        target = Path(output_dir, relative)
        target = target.with_suffix(".png") if check.conversion else target
        reason = check.reason
        if not reason and target in stored:
            reason = (
                f"same name as {stored[target]} once stored as {target.name}; rename one of "
                "them to keep both"
            )
        if not reason and len(target.name.encode("utf-8")) > NAME_BYTES:
            reason = f"its name as {target.suffix} is over {NAME_BYTES} bytes; shorten it"
        if reason:
            skipped.append({"file": relative, "reason": reason})
            continue
        try:
            copy_image(Path(class_root, relative), target, bool(check.conversion))
        except OSError as error:
            if error.errno != errno.ENAMETOOLONG:
                raise
            skipped.append({"file": relative, "reason": "its path is too long to store here"})
            continue
        stored[target] = relative
        if check.conversion:
            entry = {"file": relative, "format": check.image_format, "saved_as": target.name}
            entry["reason"] = check.conversion
            converted.append({**entry, "frames": check.frames} if check.frames > 1 else entry)
        counts[label] = counts.get(label, 0) + 1
    return counts, converted


def fetch(class_root, output_dir, limits):
    """Copy every usable image of class_root into output_dir; the dataset report. `limits`
    (data.max_files, data.max_gb) cap what is read, whatever the source."""
    classes, files, skipped = list_candidates(class_root, limits.max_files)
    if not classes:
        raise UserError(f"no class folders in {class_root}: expected one sub-folder per class")

    check_limits(class_root, files, limits)
    checks = inspect_all(class_root, files)
    with reports_full_disk(f"copying the images of {class_root} into {output_dir}"):
        counts, converted = store_images(class_root, output_dir, files, checks, skipped)
    return {
        "num_classes": len(counts),
        "num_images": sum(counts.values()),
        "images_per_class": {label: counts[label] for label in classes if label in counts},
        "empty_classes": [label for label in classes if label not in counts],
        "converted": converted,
        "skipped": skipped,
        "duplicates": duplicate_groups(files, [check.digest for check in checks]),
    }
