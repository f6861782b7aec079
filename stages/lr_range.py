"""Stage `lr_range`: an LR range test on the cached features, a guide for `initial_lr`.

Writes plots/lr_range.png and metrics/lr_range.json (lrstudy/training/lr_range.py says how).
"""

import numpy as np

from lrstudy.atomic import write_json
from lrstudy.data.features import class_count, load_features
from lrstudy.params import load_params, stage_main
from lrstudy.paths import LR_RANGE_PLOT, LR_RANGE_REPORT
from lrstudy.reporting.figures import plot_range_test
from lrstudy.training.determinism import seed_everything
from lrstudy.training.head import build_head, compile_classifier, training_settings
from lrstudy.training.lr_range import range_settings, range_test, smooth, suggest_lr


@stage_main
def main():
    params = load_params()
    min_lr, max_lr, steps = range_settings(params)
    settings = training_settings(params)
    seed_everything(settings["seed"])
    features, labels = load_features("train")
    model = build_head(features.shape[1], class_count(), settings["dropout"])
    compile_classifier(model, min_lr, metrics=())

    lrs = np.geomspace(min_lr, max_lr, steps)
    lrs, losses = range_test(model, features, labels, lrs, settings["batch_size"], settings["seed"])
    suggested, minimum = suggest_lr(lrs, losses)

    plot_range_test(lrs, losses, smooth(losses), suggested, LR_RANGE_PLOT)
    write_json(LR_RANGE_REPORT, {"suggested_lr": suggested, "min_loss_lr": minimum})
    print(
        f"lr_range: suggested initial_lr {suggested:.3g} (steepest descent); "
        f"loss lowest at {minimum:.3g}, after {len(lrs)} batches"
    )


if __name__ == "__main__":
    main()
