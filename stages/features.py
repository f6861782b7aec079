"""Stage `features`: the frozen backbone run once over every image of data/raw, its pooled
output cached (lrstudy/core/datasets.py).

The cache depends only on the images and `backbone.*`, not on the split: another split seed or
schedule reuses it. On CPUs the backbone runs converted to LiteRT (`backbone.runtime`,
lrstudy/backbone/runtime.py); its features agree with Keras' within 1e-4. Its speed goes to
metrics/times/features.json (git-ignored: it changes on every run).
"""

import time

from lrstudy.core.datasets import raw_images, write_features
from lrstudy.core.outputs import atomic_output, write_json
from lrstudy.core.paths import FEATURES_DIR, time_file
from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    settings = config.backbone
    settings.check_weights_file()
    from lrstudy.backbone.build import build_backbone
    from lrstudy.backbone.runtime import choose_runtime, compute_features, configure_devices

    paths = [path for images in raw_images().values() for path in images]
    strategy = configure_devices(settings)
    runtime = choose_runtime(settings.runtime, strategy.num_replicas_in_sync)
    with strategy.scope():
        backbone = build_backbone(settings)
    forward = runtime(backbone)  # before the clock starts: a conversion is cached once done

    print(
        f"features: {len(paths)} images through {settings.name} at {settings.image_size} px "
        f"({runtime.name})"
    )
    started = time.perf_counter()
    features = compute_features(forward, paths, settings.image_size, settings.batch_size)
    seconds = time.perf_counter() - started
    info = {
        "backbone": settings.name,
        "image_size": settings.image_size,
        "feature_dim": int(backbone.output_shape[-1]),
    }
    with atomic_output(FEATURES_DIR) as partial:
        partial.mkdir()
        write_features(partial, paths, features, info)
    print(f"features: {len(paths)} images in {seconds:.1f} s ({len(paths) / seconds:.1f} images/s)")
    write_json(
        time_file("features"),
        {
            "wall_time_s": round(seconds, 2),
            "images_per_s": round(len(paths) / seconds, 1),
            "runtime": runtime.name,
        },
    )


if __name__ == "__main__":
    main()
