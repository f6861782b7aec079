"""Stage `evaluate`: the three models on the held-out test split, and where the best one errs.

- metrics/evaluate/metrics.json: test accuracy and loss of baseline, scheduled head, fine-tuned,
  and McNemar's exact test of the fine-tuned model against the head it started from;
- the fine-tuned model's confusion matrix, as dvclive data for `dvc plots` and as
  plots/confusion_matrix.png, its per-class precision/recall/F1 (metrics/evaluate/per_class.*),
  and plots/misclassified.png, the test images it got most confidently wrong.
"""

import keras
import numpy as np

from lrstudy.backbones import backbone_settings
from lrstudy.errors import reports_user_errors
from lrstudy.evaluation import (
    EVALUATE_DIR,
    GRID_SIZE,
    evaluation_scores,
    log_test_results,
    per_class_rows,
    plot_confusion_matrix,
    plot_mistakes,
    worst_mistakes,
)
from lrstudy.finetuning import predict_images
from lrstudy.head import load_features
from lrstudy.layout import MODELS_DIR, PLOTS_DIR, read_classes, read_manifest, write_table
from lrstudy.litert import choose_runtime
from lrstudy.params import load_params, number
from lrstudy.statistics import mcnemar_exact, mcnemar_verdict


@reports_user_errors
def main():
    params = load_params()
    _, _, image_size = backbone_settings(params)
    batch_size = number(params, "finetune.batch_size", minimum=1, integer=True)
    classes = read_classes()
    features, labels = load_features("test")

    scores, head_predictions = {}, {}
    for name in ("baseline", "train"):
        head = keras.models.load_model(MODELS_DIR / f"{name}.keras")
        head_probabilities = head.predict(features, verbose=0)
        scores[name] = evaluation_scores(head_probabilities, labels)
        head_predictions[name] = np.argmax(head_probabilities, axis=1)
    paths, _ = read_manifest("test")
    finetuned = keras.models.load_model(MODELS_DIR / "finetune.keras")
    runtime = choose_runtime(params, replicas=1)
    probabilities = predict_images(finetuned, paths, image_size, batch_size, runtime)
    scores["finetune"] = evaluation_scores(probabilities, labels)
    predicted = np.argmax(probabilities, axis=1)
    # Did fine-tuning change anything? The head it started from against it, image by image.
    scores["finetune_vs_train"] = {
        "test_images": len(labels),
        **mcnemar_exact(head_predictions["train"] == labels, predicted == labels),
    }

    log_test_results(scores, labels, predicted, classes)
    write_table(EVALUATE_DIR / "per_class", per_class_rows(labels, predicted, classes))
    plot_confusion_matrix(labels, predicted, classes, PLOTS_DIR / "confusion_matrix.png")
    mistakes = worst_mistakes(probabilities, labels, GRID_SIZE * GRID_SIZE)
    plot_mistakes(mistakes, paths, probabilities, labels, classes, PLOTS_DIR / "misclassified.png")
    for name in ("baseline", "train", "finetune"):
        print(
            f"evaluate: {name}: test accuracy {scores[name]['test_accuracy']:.4f}, "
            f"loss {scores[name]['test_loss']:.4f}"
        )
    print(f"evaluate: {mcnemar_verdict(scores['finetune_vs_train'])}")


if __name__ == "__main__":
    main()
