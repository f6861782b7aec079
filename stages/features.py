"""Stage `features`: run the frozen backbone once per split and cache its pooled output.

The cache (lrstudy/data/features.py) depends only on the images, the split and `model.*`, so
schedule experiments never recompute it. On CPUs the backbone runs converted to LiteRT
(`model.runtime`, lrstudy/models/runtime.py); its features agree with Keras' within 1e-4. Its
speed goes to metrics/times/features.json, which is no DVC output (lrstudy/paths.py says why).
"""

import time

from lrstudy.atomic import atomic_output, write_json
from lrstudy.data.features import write_info, write_split
from lrstudy.data.images import compute_features
from lrstudy.data.manifests import read_classes, read_split
from lrstudy.models.backbones import backbone_settings, build_backbone
from lrstudy.models.devices import configure_devices
from lrstudy.models.runtime import choose_runtime
from lrstudy.params import load_params, number, stage_main
from lrstudy.paths import FEATURES_DIR, SPLITS, time_file


@stage_main
def main():
    params = load_params()
    backbone_name, weights, image_size = backbone_settings(params)
    batch_size = number(params, "model.batch_size", minimum=1, integer=True)
    classes = read_classes()
    strategy = configure_devices(params)
    runtime = choose_runtime(params, strategy.num_replicas_in_sync)
    with strategy.scope():
        backbone = build_backbone(backbone_name, weights, image_size)

    forward = runtime(backbone)  # before the clock starts: a conversion is cached once done
    counts, started = {}, time.perf_counter()
    with atomic_output(FEATURES_DIR) as partial:
        partial.mkdir()
        for split in SPLITS:
            paths, labels = read_split(split, classes)
            print(
                f"features: {split}: {len(paths)} images through {backbone_name} "
                f"at {image_size} px ({runtime.name})"
            )
            write_split(
                partial, split, compute_features(forward, paths, image_size, batch_size), labels
            )
            counts[split] = len(paths)
        feature_dim = int(backbone.output_shape[-1])
        write_info(partial, backbone_name, image_size, feature_dim, classes, counts)
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(f"features: {total} images in {seconds:.1f} s ({total / seconds:.1f} images/s)")
    write_json(
        time_file("features"),
        {
            "wall_time_s": round(seconds, 2),
            "images_per_s": round(total / seconds, 1),
            "runtime": runtime.name,
        },
    )


if __name__ == "__main__":
    main()
