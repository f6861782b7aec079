"""An LR range test on the cached features, a guide for `initial_lr` (stage `lr_range`).

The head is trained for `lr_range.steps` mini-batches while the learning rate rises
exponentially from `lr_range.min_lr` to `lr_range.max_lr`, recording each batch's loss; the test
stops once the smoothed loss exceeds 4 times its minimum. The suggested LR is where the smoothed
loss falls fastest against log(LR). Seconds on cached features, where the reference reports
spent a full run per learning rate. The stage writes plots/lr_range.png and
metrics/lr_range.json.
"""

import numpy as np

from lrstudy.core.outputs import write_figure

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
        logs = model.train_on_batch(features[batch], labels[batch], return_dict=True)
        losses.append(float(logs["loss"]))
        smoothed = smooth(losses)
        if not np.isfinite(losses[-1]) or smoothed[-1] > DIVERGED * smoothed.min():
            break
    return np.array(lrs[: len(losses)]), np.array(losses)


def plot_range_test(lrs, losses, suggested, path):
    """Each batch's loss and its smoothed curve against the rising LR, the suggestion marked."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    axes.plot(lrs, losses, alpha=0.3, label="loss per batch")
    axes.plot(lrs, smooth(losses), label="smoothed")
    axes.axvline(
        suggested, color="k", linestyle="--", label=f"suggested initial_lr {suggested:.2g}"
    )
    axes.set(
        xscale="log",
        xlabel="learning rate",
        ylabel="cross-entropy loss",
        title="LR range test (head on cached features)",
    )
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    write_figure(figure, path)
