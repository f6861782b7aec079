"""Bad inputs: every odd file a user's folder of images can hold is used, skipped with its reason
in metrics/dataset.json, or refused with one line that says what to do."""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from lrstudy.core.config import load_config
from lrstudy.core.errors import UserError
from lrstudy.data.fetch import MAX_PIXELS, fetch
from tests.helpers.commands import dvc, run
from tests.helpers.images import write_image
from tests.helpers.sandbox import REPO_ROOT, set_params
from tests.test_sources import image_bytes, make_zip

LIMITS = load_config(REPO_ROOT / "params.yaml").data  # the default caps
KEPT = [
    "Mäusebussard/сова 1.jpg",
    "Mäusebussard/鳥.png",
    "deer/cmyk.jpg",
    "deer/grey.jpg",
    "deer/nested/deeper/deepest.png",
    "deer/ok.jpg",
    "deer/tiny.png",
    "fox/alpha.png",
    "fox/palette.gif",
    "fox/same_as_deer.jpg",
    "fox/scan.png",
    "fox/sixteen_bit.png",
    "lynx/only.jpg",
]
SKIPPED = {
    ".DS_Store": "hidden or system file",
    "README.txt": "not inside a class folder",
    "deer/.ipynb_checkpoints": "hidden folder",
    "deer/loop": "folder already read through another path (symlink loop?)",
    "fox/.DS_Store": "hidden or system file",
    "fox/Thumbs.db": "hidden or system file",
    "fox/broken_link.jpg": "cannot read: No such file or directory",
    "fox/self_link.jpg": "cannot read: Too many levels of symbolic links",
    "fox/empty.jpg": "empty file",
    "fox/notes.jpg": "not an image",
    "fox/random.jpg": "not an image",
    "fox/truncated.jpg": "cannot decode: image file is truncated",
}


def seed_messy_dataset(root):
    """A class-per-folder dataset with the broken and unusual files users' folders contain."""
    write_image(root / "deer" / "ok.jpg", seed=1)
    write_image(root / "deer" / "grey.jpg", mode="L", seed=2)
    write_image(root / "deer" / "cmyk.jpg", mode="CMYK", seed=3)
    write_image(root / "deer" / "tiny.png", size=(1, 1), seed=4)
    write_image(root / "deer" / "nested" / "deeper" / "deepest.png", seed=5)
    write_image(root / "deer" / ".ipynb_checkpoints" / "ok-checkpoint.jpg", seed=1)
    (root / "deer" / "loop").symlink_to(root / "deer", target_is_directory=True)
    write_image(root / "fox" / "alpha.png", mode="RGBA", seed=6)
    write_image(root / "fox" / "palette.gif", mode="P", seed=7)
    write_image(root / "fox" / "sixteen_bit.png", mode="I;16", seed=8)
    write_image(root / "fox" / "scan.tiff", seed=9)
    shutil.copyfile(root / "deer" / "ok.jpg", root / "fox" / "same_as_deer.jpg")
    (root / "fox" / "empty.jpg").write_bytes(b"")
    truncated = write_image(root / "fox" / "truncated.jpg", size=(200, 200), seed=10).read_bytes()
    (root / "fox" / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    (root / "fox" / "random.jpg").write_bytes(np.random.default_rng(0).bytes(2000))
    (root / "fox" / "notes.jpg").write_text("this is text, not a photo")
    (root / "fox" / "broken_link.jpg").symlink_to(root / "fox" / "gone.jpg")
    (root / "fox" / "self_link.jpg").symlink_to(root / "fox" / "self_link.jpg")
    (root / "fox" / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "fox" / "Thumbs.db").write_bytes(b"\x00\x01")
    (root / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "owl").mkdir()
    write_image(root / "lynx" / "only.jpg", seed=11)
    write_image(root / "Mäusebussard" / "сова 1.jpg", seed=12)
    write_image(root / "Mäusebussard" / "鳥.png", seed=13)
    (root / "README.txt").write_text("stray file next to the class folders")
    return root


def files_under(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_every_odd_file_is_used_or_skipped_with_its_reason(tmp_path):
    report = fetch(seed_messy_dataset(tmp_path / "source"), tmp_path / "raw", LIMITS)

    assert files_under(tmp_path / "raw") == KEPT
    assert report["num_images"] == len(KEPT)
    assert report["images_per_class"] == {"Mäusebussard": 2, "deer": 5, "fox": 5, "lynx": 1}
    assert report["empty_classes"] == ["owl"]
    reasons = {item["file"]: item["reason"] for item in report["skipped"]}
    assert sorted(reasons) == sorted(SKIPPED)
    assert all(reasons[file].startswith(reason) for file, reason in SKIPPED.items()), reasons
    assert report["converted"] == [
        {
            "file": "fox/scan.tiff",
            "format": "TIFF",
            "saved_as": "scan.png",
            "reason": "a format TensorFlow cannot decode",
        }
    ]
    assert report["duplicates"] == [["deer/ok.jpg", "fox/same_as_deer.jpg"]]
    for path in KEPT:  # everything kept becomes an RGB tensor for the features stage
        image = tf.io.decode_image(
            tf.io.read_file(str(tmp_path / "raw" / path)), channels=3, expand_animations=False
        )
        assert image.shape[-1] == 3 and image.dtype == tf.uint8


def test_an_animation_keeps_only_its_first_frame_for_every_reader(tmp_path):
    (tmp_path / "source" / "fox").mkdir(parents=True)
    frames = [Image.new("RGB", (300, 200), (40 * shade, 0, 0)) for shade in range(6)]
    frames[0].save(tmp_path / "source/fox/run.gif", save_all=True, append_images=frames[1:])
    report = fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
    assert report["converted"] == [
        {
            "file": "fox/run.gif",
            "format": "GIF",
            "saved_as": "run.png",
            "reason": "an animation: its first frame",
            "frames": 6,
        }
    ]
    # What the features and fine-tuning read is one frame: TensorFlow decodes no other.
    stored = tf.io.decode_image(tf.io.read_file(str(tmp_path / "raw/fox/run.png")))
    assert stored.shape == (200, 300, 3) and int(stored[0, 0, 0]) == 0
    with Image.open(tmp_path / "raw/fox/run.png") as image:
        assert not getattr(image, "is_animated", False)


def test_a_named_pipe_in_a_folder_source_is_skipped_not_waited_on(tmp_path):
    write_image(tmp_path / "source/fox/a.png")
    os.mkfifo(tmp_path / "source/fox/pipe.jpg")
    probe = (
        "import json, sys; from lrstudy.data.fetch import fetch; "
        f"from lrstudy.core.config import DataConfig; LIMITS = {LIMITS!r}; "
        "print(json.dumps(fetch(sys.argv[1], sys.argv[2], LIMITS)['skipped']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "source"), str(tmp_path / "raw")],
        capture_output=True,
        text=True,
        timeout=120,  # before the fix, reading the pipe waited forever
    )
    assert json.loads(result.stdout) == [
        {"file": "fox/pipe.jpg", "reason": "not a regular file (a named pipe, socket or device)"}
    ]


def test_names_that_are_not_utf8_are_skipped_and_the_report_can_be_written(tmp_path):
    write_image(tmp_path / "source/fox/ok.png")
    write_image(Path(os.fsdecode(bytes(tmp_path / "source/fox") + b"/caf\xe9.png")))
    write_image(Path(os.fsdecode(bytes(tmp_path / "source") + b"/\xfeowl/a.png")))
    report = fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
    assert report["images_per_class"] == {"fox": 1}
    assert (
        sorted(item["reason"] for item in report["skipped"])
        == ["its name is not valid UTF-8; rename it"] * 2
    )
    json.dumps(report, ensure_ascii=False).encode("utf-8")  # what write_json will write


def test_two_files_stored_under_one_name_keep_the_first_and_report_the_other(tmp_path):
    write_image(tmp_path / "source/fox/a.png", seed=1)
    write_image(tmp_path / "source/fox/a.tif", image_format="TIFF", seed=2)
    report = fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
    assert files_under(tmp_path / "raw") == ["fox/a.png"] and report["num_images"] == 1
    assert report["skipped"] == [
        {
            "file": "fox/a.tif",
            "reason": "same name as fox/a.png once stored as a.png; rename one of them to "
            "keep both",
        }
    ]
    with (
        Image.open(tmp_path / "raw/fox/a.png") as kept,
        Image.open(tmp_path / "source/fox/a.png") as first,
    ):
        assert np.array_equal(np.asarray(kept), np.asarray(first))


def test_a_decompression_bomb_is_refused_from_its_header_in_little_memory(tmp_path):
    side = 10_000
    assert side * side > MAX_PIXELS
    Image.new("RGB", (side, side)).save(tmp_path / "huge.png")  # 300 MB decoded, ~300 kB on disk
    probe = (  # VmHWM: this process's peak memory (ru_maxrss would carry pytest's across exec)
        "import re, sys; from pathlib import Path; from lrstudy.data.fetch import inspect_image; "
        "print(inspect_image(Path(sys.argv[1])).reason); "
        "status = Path('/proc/self/status').read_text(); "
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', status).group(1)) // 1024)"
    )
    reason, peak_mib = run(
        [sys.executable, "-c", probe, str(tmp_path / "huge.png")], cwd=os.getcwd()
    ).stdout.splitlines()
    assert reason.startswith("too large: 10000x10000 pixels, over the 89,478,485-pixel limit")
    assert int(peak_mib) < 200, "refused before decoding: far less than the 300 MB of pixels"


@pytest.mark.slow
def test_fetch_and_features_stages_run_through_the_messy_folder(tmp_path, project):
    source = seed_messy_dataset(tmp_path / "source")
    root = project(
        {
            "data.source": str(source),
            "backbone.name": "efficientnet_lite0",
            "backbone.image_size": 32,
        }
    )
    result = dvc("repro", "split", "features", cwd=root)
    assert (
        "13 images in 4 classes; 12 files skipped, 1 converted, 1 groups of identical images"
        in result.stdout
    )
    report = json.loads((root / "metrics" / "dataset.json").read_text(encoding="utf-8"))
    assert report["source"] == str(source) and len(report["skipped"]) == len(SKIPPED)
    split = json.loads((root / "metrics" / "split.json").read_text(encoding="utf-8"))
    assert split["training_only_classes"] == ["Mäusebussard", "lynx"]
    classes = json.loads((root / "data" / "split" / "classes.json").read_text(encoding="utf-8"))
    assert classes == ["Mäusebussard", "deer", "fox", "lynx"]
    info = json.loads((root / "data" / "features" / "info.json").read_text(encoding="utf-8"))
    assert info["images"] == 13
    assert not list((root / "data").glob(".fetch-*")), "the temporary work folder is removed"


def flat_folder(tmp):
    return write_image(tmp / "flat" / "a.jpg").parent


def folder_without_images(tmp):
    for label in ("a", "b"):
        (tmp / "junk" / label).mkdir(parents=True)
        (tmp / "junk" / label / "x.jpg").write_text("not a photo")
    return tmp / "junk"


def fake_archive(tmp):
    (tmp / "fake.zip").write_bytes(b"not a zip")
    return tmp / "fake.zip"


@pytest.mark.slow  # the fetch stage, run as DVC runs it
@pytest.mark.parametrize(
    "make_source, message",
    [
        (flat_folder, "error: no class folders in"),
        (
            folder_without_images,
            r"error: no usable images under .*: every file was skipped \(reasons in "
            r"metrics/dataset.json\)",
        ),
        (fake_archive, "is not a readable zip or tar archive"),
        (
            lambda tmp: tmp / "missing",
            "does not exist: give a folder with one sub-folder per class",
        ),
    ],
)
def test_unusable_sources_are_refused_in_one_line(tmp_path, project, make_source, message):
    root = project({"data.source": str(make_source(tmp_path))})
    result = run([sys.executable, "-m", "stages.fetch"], root, check=False)
    assert result.returncode == 1
    assert re.search(message, result.stderr.strip().splitlines()[-1])
    assert "Traceback" not in result.stderr
    assert not (root / "data" / "raw").exists()


@pytest.mark.slow  # the fetch stage, run as DVC runs it
def test_an_archive_with_escaping_members_is_used_without_them(tmp_path, project):
    archive = make_zip(
        tmp_path / "wild.zip",
        {
            "wild/deer/1.jpg": image_bytes(1),
            "wild/fox/2.jpg": image_bytes(2),
            "../evil.jpg": image_bytes(3),
            "/abs.jpg": image_bytes(4),
        },
    )
    root = project({"data.source": str(archive)})
    run([sys.executable, "-m", "stages.fetch"], root)
    report = json.loads((root / "metrics" / "dataset.json").read_text())
    assert report["images_per_class"] == {"deer": 1, "fox": 1}
    assert {item["file"] for item in report["skipped"]} == {"../evil.jpg", "/abs.jpg"}
    assert not (tmp_path / "evil.jpg").exists() and not (root / "data" / "evil.jpg").exists()


def test_a_folder_source_over_the_caps_is_refused_before_anything_is_copied(tmp_path):
    for index in range(3):
        write_image(tmp_path / f"source/fox/{index}.png", seed=index)
    size = sum(path.stat().st_size for path in (tmp_path / "source/fox").iterdir())
    with pytest.raises(UserError, match=r"holds more than data.max_files = 2 files"):
        fetch(tmp_path / "source", tmp_path / "raw", replace(LIMITS, max_files=2))
    with pytest.raises(UserError, match=r"GB, more than data.max_gb = "):
        fetch(tmp_path / "source", tmp_path / "raw", replace(LIMITS, max_gb=(size - 1) / 1e9))
    assert not (tmp_path / "raw").exists()


def test_a_full_disk_while_copying_the_images_is_one_line(tmp_path):
    write_image(tmp_path / "source/fox/a.png")
    (tmp_path / "raw/fox").mkdir(parents=True)
    (tmp_path / "raw/fox/a.png").symlink_to("/dev/full")  # every write there: ENOSPC
    with pytest.raises(UserError, match=r"no space left on disk copying the images of .*source"):
        fetch(tmp_path / "source", tmp_path / "raw", LIMITS)


def broken_png(path, damage, rgb):
    """A PNG that PIL shows and TensorFlow refuses: its IDAT checksum wrong, or no IEND."""
    Image.fromarray(rgb).save(path)
    data = bytearray(path.read_bytes())
    if damage == "crc":
        start = data.index(b"IDAT")
        length = int.from_bytes(data[start - 4 : start], "big")
        data[start + 4 + length] ^= 0xFF
    else:
        data = data[:-12]  # the IEND chunk
    path.write_bytes(bytes(data))
    return path


def test_what_the_features_decode_is_what_each_image_shows(tmp_path):
    source = tmp_path / "source" / "fox"
    source.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    gradient = np.linspace(0, 65535, 24 * 32).reshape(24, 32).astype(np.uint16)
    Image.fromarray(gradient).save(source / "deep.tif")  # 16 bits per sample
    Image.fromarray(rgb).quantize(16).save(source / "palette.bmp")
    Image.fromarray(rgb[..., 0] > 127).convert("1").save(source / "one_bit.bmp")
    broken_png(source / "bad_crc.png", "crc", rgb)
    broken_png(source / "no_iend.png", "iend", rgb)
    write_image(source / "plain.jpg", seed=3)
    expected = {"deep": np.repeat((gradient >> 8).astype(np.uint8)[..., None], 3, axis=2)}
    for name in ("palette.bmp", "one_bit.bmp", "bad_crc.png", "no_iend.png", "plain.jpg"):
        with Image.open(source / name) as image:
            expected[Path(name).stem] = np.asarray(image.convert("RGB"))

    report = fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
    assert report["num_images"] == 6 and report["skipped"] == []
    for stored in sorted((tmp_path / "raw" / "fox").iterdir()):
        decoded = tf.io.decode_image(
            tf.io.read_file(str(stored)), channels=3, expand_animations=False
        ).numpy()
        difference = np.abs(decoded.astype(int) - expected[stored.stem].astype(int))
        tolerance = 2 if stored.suffix == ".jpg" else 0  # two JPEG decoders round apart
        assert difference.mean() <= tolerance, stored.name
    reasons = {item["file"]: item["reason"] for item in report["converted"]}
    refused = r"TensorFlow cannot decode it \((Invalid PNG data|Number of channels)[^)]*\); "
    assert sorted(reasons) == [
        "fox/bad_crc.png",
        "fox/deep.tif",
        "fox/no_iend.png",
        "fox/one_bit.bmp",
        "fox/palette.bmp",
    ]
    for name in ("bad_crc.png", "no_iend.png", "one_bit.bmp"):
        assert re.fullmatch(refused + "stored as PIL shows it", reasons[f"fox/{name}"])
    assert reasons["fox/deep.tif"] == (
        "a format TensorFlow cannot decode; 16-bit samples scaled to 8 bits"
    )
    assert reasons["fox/palette.bmp"] == (
        "TensorFlow decodes it otherwise than it looks; stored as PIL shows it"
    )


@pytest.mark.slow  # the fetch stage, run as DVC runs it
def test_a_single_class_is_named_as_too_few_not_as_no_class_folders(tmp_path):
    for index in range(3):
        write_image(tmp_path / "source" / "fox" / f"{index}.png", seed=index)
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copyfile(REPO_ROOT / name, tmp_path / name)
    set_params(tmp_path / "params.yaml", {"data.source": str(tmp_path / "source")})
    shutil.copyfile(REPO_ROOT / "data/caltech101-animals.tar", tmp_path / "embedded.tar")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/caltech101-animals.tar").symlink_to(tmp_path / "embedded.tar")
    command = [sys.executable, "-m", "stages.fetch"]
    result = run(command, tmp_path, check=False, PYTHONPATH=str(REPO_ROOT))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"error: only one class, fox, in {tmp_path / 'source'} holds usable images: a "
        "classifier needs at least two (one sub-folder per class)"
    )


MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "I;16", "F")


def image_in_mode(mode, size=(12, 9)):
    """A gradient with some of every channel, in PIL's `mode`."""
    rgb = np.zeros((size[1], size[0], 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, size[0], dtype=np.uint8)
    rgb[..., 1] = np.linspace(255, 0, size[1], dtype=np.uint8)[:, None]
    image = Image.fromarray(rgb, "RGB")
    if mode in ("I", "I;16", "F"):
        return Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257, "I;16").convert(
            mode
        )
    return image.convert(mode)


def test_every_mode_in_every_format_pil_writes_is_stored_as_seen_or_skipped(tmp_path):
    written = []
    Image.init()  # every format plugin PIL has, not only those imported so far
    for mode in MODES:
        for image_format in sorted(Image.SAVE):
            path = tmp_path / "source" / "fox" / f"{mode.replace(';', '_')}-{image_format}"
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                image_in_mode(mode).save(path, image_format)
            except Exception:  # PIL cannot write this mode in this format: nothing to test
                path.unlink(missing_ok=True)
                continue
            written.append(path.relative_to(tmp_path / "source").as_posix())
    assert len(written) > 60
    report = fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
    skipped = {item["file"]: item["reason"] for item in report["skipped"]}
    stored = {Path(item["file"]).stem: item["saved_as"] for item in report["converted"]}
    for name in written:
        if name in skipped:
            assert skipped[name], name  # a reason, always
            continue
        kept = tmp_path / "raw" / "fox" / stored.get(Path(name).name, Path(name).name)
        image = tf.io.decode_image(tf.io.read_file(str(kept)), channels=3, expand_animations=False)
        with Image.open(tmp_path / "source" / name) as seen:  # an icon: its largest size
            assert image.shape[:2] == (seen.height, seen.width), name
    assert report["num_images"] == len(written) - len(skipped)


def test_a_long_name_that_needs_another_suffix_is_skipped_with_its_reason(tmp_path):
    name = "b" * 251 + ".bmp"  # 255 bytes, stored as .png: 255 too; one byte more is not
    write_image(tmp_path / "source/fox" / name, image_format="TIFF")
    longer = "c" * 250 + ".tif"
    write_image(tmp_path / "source/fox" / longer, image_format="TIFF")
    write_image(tmp_path / "source/fox" / "c" / ("d" * 252), image_format="TIFF")
    report = fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
    reasons = {item["file"]: item["reason"] for item in report["skipped"]}
    assert reasons == {f"fox/c/{'d' * 252}": "its name as .png is over 255 bytes; shorten it"}
    assert report["num_images"] == 2


def test_a_symlink_out_of_a_folder_source_is_not_followed(tmp_path):
    write_image(tmp_path / "source/fox/a.png")
    write_image(tmp_path / "secret/b.png")
    (tmp_path / "source/fox/root").symlink_to("/")
    (tmp_path / "source/fox/b.png").symlink_to(tmp_path / "secret/b.png")
    (tmp_path / "source/lynx").symlink_to(tmp_path / "secret")
    report = fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
    reasons = {item["file"]: item["reason"] for item in report["skipped"]}
    outside = "a symlink to outside the source; not followed"
    assert reasons == {"fox/b.png": outside, "fox/root": outside, "lynx": outside}
    assert files_under(tmp_path / "raw") == ["fox/a.png"]


def test_one_class_name_in_two_unicode_spellings_is_one_line(tmp_path):
    write_image(tmp_path / "source" / "Mäusebussard" / "a.png")  # NFC: ä one code point
    write_image(tmp_path / "source" / "Ma\u0308usebussard" / "b.png")  # NFD: a + accent
    message = (
        ", one name in two Unicode spellings (NFC and NFD): move the images of one into the other"
    )
    with pytest.raises(UserError, match=re.escape(message)):
        fetch(tmp_path / "source", tmp_path / "raw", LIMITS)
