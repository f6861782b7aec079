"""Stage `lr_range`: an LR range test on the cached features, a guide for `initial_lr` of
`train.optimizer`.

Writes plots/lr_range.png and metrics/lr_range.json (lrstudy/heads/lr_range.py says how).
"""

from lrstudy.core.datasets import read_classes, split_features
from lrstudy.core.outputs import write_json
from lrstudy.core.paths import LR_RANGE_PLOT, LR_RANGE_REPORT
from lrstudy.core.stage import stage_main


@stage_main
def main(config):
    import numpy as np

    from lrstudy.heads.lr_range import plot_range_test, range_test, suggest_lr
    from lrstudy.heads.training import (
        build_head,
        compile_classifier,
        make_optimizer,
        seed_everything,
    )

    head, settings = config.head, config.lr_range
    seed_everything(head.seed)
    features, labels = split_features("training")
    model = build_head(features.shape[1], len(read_classes()), head.dropout)
    optimizer = make_optimizer(config.train, settings.min_lr, model.trainable_variables)
    compile_classifier(model, optimizer, metrics=())

    lrs = np.geomspace(settings.min_lr, settings.max_lr, settings.steps)
    lrs, losses = range_test(model, features, labels, lrs, head.batch_size, head.seed)
    suggested, minimum = suggest_lr(lrs, losses)

    plot_range_test(lrs, losses, suggested, LR_RANGE_PLOT)
    write_json(LR_RANGE_REPORT, {"suggested_lr": suggested, "min_loss_lr": minimum})
    print(
        f"lr_range: suggested initial_lr {suggested:.3g} (steepest descent); "
        f"loss lowest at {minimum:.3g}, after {len(lrs)} batches"
    )


if __name__ == "__main__":
    main()
