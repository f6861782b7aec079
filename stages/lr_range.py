"""Stage `lr_range`: an LR range test on the cached features, a guide for `initial_lr`.

Writes plots/lr_range.png and metrics/lr_range.json (lrstudy/lr_range.py says how).
"""

import numpy as np

from lrstudy.errors import reports_user_errors
from lrstudy.head import (
    build_head,
    class_count,
    compile_classifier,
    load_features,
    seed_everything,
    training_settings,
)
from lrstudy.layout import METRICS_DIR, PLOTS_DIR, write_json
from lrstudy.lr_range import plot_range_test, range_settings, range_test, suggest_lr
from lrstudy.params import load_params


@reports_user_errors
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

    plot_range_test(lrs, losses, suggested, PLOTS_DIR / "lr_range.png")
    write_json(
        METRICS_DIR / "lr_range.json",
        {"suggested_lr": suggested, "min_loss_lr": minimum, "steps": len(lrs)},
    )
    print(
        f"lr_range: suggested initial_lr {suggested:.3g} (steepest descent); "
        f"loss lowest at {minimum:.3g}"
    )


if __name__ == "__main__":
    main()
