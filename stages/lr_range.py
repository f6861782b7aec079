"""Stage `lr_range`: an LR range test on the cached features, a guide for `initial_lr`.

The head is trained for `lr_range.steps` mini-batches while the learning rate rises
exponentially from `lr_range.min_lr` to `lr_range.max_lr`, recording each batch's loss; the test
stops once the smoothed loss exceeds 4 times its minimum. The suggested LR is where the smoothed
loss falls fastest against log(LR). Seconds on cached features, where the seeds spent a full
run per learning rate. Writes plots/lr_range.png and metrics/lr_range.json.
"""

import keras
import matplotlib.pyplot as plt
import numpy as np

from stages.errors import reports_user_errors
from stages.head import build_head, class_count, load_features, seed_everything, training_settings
from stages.layout import METRICS_DIR, PLOTS_DIR, write_json
from stages.params import load_params, number

DIVERGED = 4.0  # stop when the smoothed loss exceeds this multiple of its minimum
SMOOTHING = 0.9


def smooth(losses, beta=SMOOTHING):
    """Bias-corrected exponential moving average."""
    average, smoothed = 0.0, []
    for step, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**step))
    return np.array(smoothed)


def suggest_lr(lrs, losses):
    """(LR where the smoothed loss falls fastest, LR of the smoothed minimum)."""
    smoothed = smooth(losses)
    slopes = np.gradient(smoothed, np.log(lrs))
    return float(lrs[int(np.argmin(slopes))]), float(lrs[int(np.argmin(smoothed))])


def range_test(model, features, labels, lrs, batch_size, seed):
    """Per-batch losses while the LR follows `lrs`; cut where the loss diverges."""
    order = np.random.default_rng(seed).permutation(len(labels))
    losses = []
    for step, lr in enumerate(lrs):
        model.optimizer.learning_rate = lr
        batch = order[np.arange(step * batch_size, (step + 1) * batch_size) % len(order)]
        losses.append(float(model.train_on_batch(features[batch], labels[batch])))
        smoothed = smooth(losses)
        if not np.isfinite(losses[-1]) or smoothed[-1] > DIVERGED * smoothed.min():
            break
    return np.array(lrs[: len(losses)]), np.array(losses)


@reports_user_errors
def main():
    params = load_params()
    min_lr = number(params, "lr_range.min_lr", above=0)
    max_lr = number(params, "lr_range.max_lr", above=min_lr)
    steps = number(params, "lr_range.steps", minimum=10, integer=True)
    settings = training_settings(params)
    seed_everything(settings["seed"])
    features, labels = load_features("train")
    model = build_head(features.shape[1], class_count(), settings["dropout"])
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")

    lrs = np.geomspace(min_lr, max_lr, steps)
    lrs, losses = range_test(model, features, labels, lrs, settings["batch_size"], settings["seed"])
    suggested, minimum = suggest_lr(lrs, losses)

    figure, axes = plt.subplots(figsize=(8, 5))
    axes.plot(lrs, losses, alpha=0.3, label="loss per batch")
    axes.plot(lrs, smooth(losses), label="smoothed")
    axes.axvline(suggested, color="k", linestyle="--", label=f"suggested initial_lr {suggested:.2g}")
    axes.set(xscale="log", xlabel="learning rate", ylabel="cross-entropy loss", title="LR range test (head on cached features)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    PLOTS_DIR.mkdir(exist_ok=True)
    figure.savefig(PLOTS_DIR / "lr_range.png", dpi=100, metadata={"Software": None})
    write_json(METRICS_DIR / "lr_range.json", {"suggested_lr": suggested, "min_loss_lr": minimum, "steps": len(lrs)})
    print(f"lr_range: suggested initial_lr {suggested:.3g} (steepest descent); loss lowest at {minimum:.3g}")


if __name__ == "__main__":
    main()
