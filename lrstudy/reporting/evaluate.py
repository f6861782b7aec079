"""The three models scored on the held-out test split, and where the best errs (stage `evaluate`).

- metrics/evaluate/metrics.json: test accuracy of the baseline, scheduled and fine-tuned models,
  and McNemar's exact test of fine-tuning (`finetuned_vs_scheduled`);
- the fine-tuned model's confusion matrix, as dvclive data for `dvc plots` and as
  plots/confusion_matrix.png, its per-class precision/recall/F1 (metrics/evaluate/per_class.*),
  and plots/misclassified.png, the test images it got most confidently wrong.
"""

import keras
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from sklearn.metrics import ConfusionMatrixDisplay, precision_recall_fscore_support

from lrstudy.core.outputs import open_live, write_figure, write_json
from lrstudy.core.paths import PREDICTIONS, RAW_DIR, logs_dir, model_file

GRID_SIZE = 4


def evaluation_scores(probabilities, labels):
    loss = keras.losses.sparse_categorical_crossentropy(labels, probabilities)
    return {
        "test_accuracy": round(float(np.mean(np.argmax(probabilities, axis=1) == labels)), 6),
        "test_loss": round(float(np.mean(loss)), 6),
    }


def score_heads(features, labels):
    """({model: scores}, {model: predicted classes}) of the baseline and scheduled heads on a
    split's cached features."""
    scores, predictions = {}, {}
    for name in ("baseline", "scheduled"):
        probabilities = keras.models.load_model(model_file(name)).predict(features, verbose=0)
        scores[name] = evaluation_scores(probabilities, labels)
        predictions[name] = np.argmax(probabilities, axis=1)
    return scores, predictions


def per_class_rows(labels, predicted, classes):
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=range(len(classes)), zero_division=0
    )
    return [
        {
            "class": name,
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f, 4),
            "support": int(s),
        }
        for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]


def worst_mistakes(probabilities, labels, count):
    """Indices of misclassified samples, most confident wrong prediction first."""
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != labels)
    confidence = probabilities[wrong, predicted[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:count]


def plot_mistakes(indices, paths, probabilities, labels, classes, path):
    figure, axes = plt.subplots(GRID_SIZE, GRID_SIZE, figsize=(12, 13))
    for axis in axes.flat:
        axis.axis("off")
    for axis, index in zip(axes.flat, indices, strict=False):
        with Image.open(RAW_DIR / paths[index]) as image:
            axis.imshow(image.convert("RGB"))
        predicted = int(np.argmax(probabilities[index]))
        axis.set_title(
            f"true: {classes[labels[index]]}\npredicted: {classes[predicted]} "
            f"({probabilities[index, predicted]:.0%})",
            fontsize=9,
        )
    if len(indices) == 0:
        axes.flat[0].text(0, 0.5, "no misclassified test images")
    figure.suptitle("Fine-tuned model: most confident mistakes on the test split")
    figure.tight_layout()
    write_figure(figure, path, dpi=80)


MAX_FIGURE_INCHES = 20  # at 100 dpi: 2,000 pixels a side, whatever the classes
MAX_CELL_NUMBERS, MAX_CLASS_LABELS = 40, 100  # beyond them, cells and labels would not be read


def plot_confusion_matrix(labels, predicted, classes, path):
    """The confusion matrix as a picture: 0.45 in per class up to MAX_FIGURE_INCHES, a number in
    each cell for up to MAX_CELL_NUMBERS classes, class names for up to MAX_CLASS_LABELS (the
    per-class table and dvclive's data keep every class)."""
    count = len(classes)
    size = min(MAX_FIGURE_INCHES, max(6, count * 0.45))
    figure, axis = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay.from_predictions(
        labels,
        predicted,
        labels=range(count),
        display_labels=classes if count <= MAX_CLASS_LABELS else None,
        include_values=count <= MAX_CELL_NUMBERS,
        xticks_rotation="vertical",
        colorbar=False,
        ax=axis,
    )
    if count > MAX_CLASS_LABELS:
        axis.set(xticks=[], yticks=[])
    axis.set_title("Fine-tuned model, test split")
    figure.tight_layout()
    write_figure(figure, path)


def log_test_results(scores, mcnemar, labels, predictions, classes):
    """metrics/evaluate/metrics.json (each model's test accuracy, and McNemar's test of
    fine-tuning as `finetuned_vs_scheduled`), the fine-tuned model's confusion matrix as
    dvclive data for `dvc plots`, and metrics/evaluate/predictions.json: each test image's
    label and each model's predicted class ({model: classes}), in the split's order, which
    McNemar's tests between experiments pair (the study's fine-tuning grids)."""
    with open_live(logs_dir("evaluate")) as live:
        live.summary = {
            **{model: {"test_accuracy": score["test_accuracy"]} for model, score in scores.items()},
            "finetuned_vs_scheduled": mcnemar,
        }
        live.log_sklearn_plot(
            "confusion_matrix",
            [classes[i] for i in labels],
            [classes[i] for i in predictions["finetuned"]],
            name="confusion_matrix.json",
            title="Fine-tuned model, test split",
        )
    by_image = {"labels": labels, **predictions}
    write_json(PREDICTIONS, {key: np.asarray(values).tolist() for key, values in by_image.items()})
