"""Stage `features`: run the frozen backbone once per split and cache its pooled output.

On CPUs the backbone runs converted to LiteRT with XNNPACK (`model.runtime`, lrstudy/litert.py),
about twice as fast as Keras; its features agree with Keras' within 1e-4.

With a frozen backbone and no augmentation, training the head on these features is the same
computation as the seeds' image -> backbone -> head training, without paying for the
backbone on every epoch of every experiment. Depends only on the images, the split and
`model.*`, so schedule experiments never recompute it.

Writes data/features/{split}_features.npy (float32, one row per manifest row),
{split}_labels.npy (class indices into data/split/classes.json) and info.json; its speed goes to
metrics/features/time.json, apart, so that the cached features stay byte-identical on rerun.
"""

import time

import numpy as np

from lrstudy.backbones import backbone_settings, build_backbone, pooled_features
from lrstudy.devices import configure_devices
from lrstudy.errors import reports_user_errors
from lrstudy.layout import (
    FEATURES_DIR,
    METRICS_DIR,
    SPLITS,
    atomic_output,
    read_classes,
    read_split,
    write_json,
)
from lrstudy.litert import LiteRTModel, choose_runtime
from lrstudy.params import load_params, number


@reports_user_errors
def main():
    params = load_params()
    backbone_name, weights, image_size = backbone_settings(params)
    batch_size = number(params, "model.batch_size", minimum=1, integer=True)
    classes = read_classes()
    strategy = configure_devices(params)
    runtime = choose_runtime(params, strategy.num_replicas_in_sync)
    with strategy.scope():
        backbone = build_backbone(backbone_name, weights, image_size)

    # Converted before the clock starts: once per backbone and weights, then cached.
    forward = LiteRTModel(backbone) if runtime == "litert" else backbone
    counts, started = {}, time.perf_counter()
    with atomic_output(FEATURES_DIR) as partial:
        partial.mkdir()
        for split in SPLITS:
            paths, labels = read_split(split, classes)
            print(
                f"features: {split}: {len(paths)} images through {backbone_name} "
                f"at {image_size} px ({runtime})"
            )
            features = pooled_features(forward, paths, image_size, batch_size)
            np.save(partial / f"{split}_features.npy", features)
            np.save(partial / f"{split}_labels.npy", np.array(labels, np.int32))
            counts[split] = len(paths)
        write_json(
            partial / "info.json",
            {
                "backbone": backbone_name,
                "image_size": image_size,
                "feature_dim": int(backbone.output_shape[-1]),
                "classes": classes,
                "images": counts,
            },
        )
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(f"features: {total} images in {seconds:.1f} s ({total / seconds:.1f} images/s)")
    write_json(
        METRICS_DIR / "features" / "time.json",
        {
            "wall_time_s": round(seconds, 2),
            "images_per_s": round(total / seconds, 1),
            "runtime": runtime,
        },
    )


if __name__ == "__main__":
    main()
