import json
import sys

import tensorflow as tf

from stages.fetch import fetch
from tests.conftest import run, write_image


def seed_messy_dataset(root):
    """A class-per-folder dataset with the broken and unusual files users' folders contain."""
    write_image(root / "deer" / "ok.jpg", seed=1)
    write_image(root / "deer" / "grey.jpg", mode="L", seed=2)
    write_image(root / "deer" / "cmyk.jpg", mode="CMYK", seed=3)
    write_image(root / "deer" / "nested" / "deeper.png", seed=4)
    write_image(root / "fox" / "alpha.png", mode="RGBA", seed=5)
    write_image(root / "fox" / "palette.gif", mode="P", seed=6)
    write_image(root / "fox" / "sixteen_bit.png", mode="I;16", seed=7)
    write_image(root / "fox" / "scan.tiff", seed=8)
    (root / "fox" / "empty.jpg").write_bytes(b"")
    truncated = write_image(root / "fox" / "truncated.jpg", size=(200, 200), seed=9).read_bytes()
    (root / "fox" / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    (root / "fox" / "notes.jpg").write_text("this is text, not a photo")
    (root / "fox" / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "fox" / "Thumbs.db").write_bytes(b"\x00\x01")
    (root / "owl").mkdir()
    (root / "README.txt").write_text("stray file next to the class folders")


def test_fetch_keeps_usable_images_and_lists_every_skipped_file(tmp_path):
    source = tmp_path / "source"
    seed_messy_dataset(source)
    report = fetch(source, tmp_path / "raw")

    assert report["images_per_class"] == {"deer": 4, "fox": 4}
    assert report["empty_classes"] == ["owl"]
    reasons = {item["file"]: item["reason"] for item in report["skipped"]}
    assert set(reasons) == {"README.txt", "fox/empty.jpg", "fox/truncated.jpg", "fox/notes.jpg"}
    assert reasons["fox/empty.jpg"] == "empty file"
    assert reasons["fox/notes.jpg"] == "not an image"
    assert "truncated" in reasons["fox/truncated.jpg"]
    assert report["converted"] == [{"file": "fox/scan.tiff", "format": "TIFF", "saved_as": "scan.png"}]

    kept = sorted(p.relative_to(tmp_path / "raw").as_posix() for p in (tmp_path / "raw").rglob("*") if p.is_file())
    assert kept == [
        "deer/cmyk.jpg", "deer/grey.jpg", "deer/nested/deeper.png", "deer/ok.jpg",
        "fox/alpha.png", "fox/palette.gif", "fox/scan.png", "fox/sixteen_bit.png",
    ]
    for path in kept:  # everything kept is decodable by the features stage as RGB
        image = tf.io.decode_image(tf.io.read_file(str(tmp_path / "raw" / path)), channels=3, expand_animations=False)
        assert image.shape[-1] == 3


def test_fetch_stage_on_a_broken_folder_writes_the_report_without_crashing(tmp_path, project):
    source = tmp_path / "source"
    seed_messy_dataset(source)
    root = project({"data.source": str(source)})
    result = run([sys.executable, "-m", "stages.fetch"], root)
    assert "8 images in 2 classes; 4 files skipped, 1 converted" in result.stdout
    report = json.loads((root / "metrics" / "dataset.json").read_text())
    assert report["source"] == str(source) and len(report["skipped"]) == 4
    assert not list((root / "data").glob(".fetch-*")), "the temporary work folder is removed"


def test_fetch_refuses_a_folder_without_class_folders(tmp_path, project):
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "a.jpg")
    root = project({"data.source": str(tmp_path / "flat")})
    result = run([sys.executable, "-m", "stages.fetch"], root, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: no class folders in")
    assert "Traceback" not in result.stderr
