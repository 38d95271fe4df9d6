"""The classical baseline of text classification, scored on the model's own test split.

``tfidf_logreg``: TF-IDF of word unigrams and bigrams + logistic regression (scikit-learn), the
baseline a text user tries first. It reads the run's own tokens (the tokenizer of
:mod:`lstmtune.data.text`: the same lower-casing, pattern and ``data.text.max_length``) of the raw
texts of train+val (what the published model is trained on), with its own vocabulary of the
:data:`MAX_FEATURES` most frequent unigrams and bigrams there, sublinear term frequencies and
L2-normalised rows; the classes are the network's class indices. Logistic regression:
scikit-learn's defaults (L2, ``C=1``, lbfgs, multinomial), ``max_iter=1000``, a fixed
``random_state``. It is scored on the test split with the network's metrics
(:func:`lstmtune.evaluate.classify_metrics`). A fit that fails is reported in the failures,
never raised.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from lstmtune.evaluate import classify_metrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from lstmtune.training import TextProblem

TEXT_CLASSICAL = ("tfidf_logreg",)
NGRAMS = (1, 2)
MAX_ITER = 1000
MAX_FEATURES = 200_000  # unigrams and bigrams kept, by corpus frequency


def tfidf_logreg_predict(
    train: list[str],
    y: np.ndarray,
    test: list[str],
    tokens: Callable[[str], list[str]],
    *,
    seed: int = 0,
) -> np.ndarray:
    """Class indices of ``test`` from TF-IDF (unigrams + bigrams of ``tokens``) + logistic
    regression fitted on ``train`` and its class indices ``y``."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped,import-not-found,unused-ignore]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped,import-not-found,unused-ignore]

    vectorizer = TfidfVectorizer(
        tokenizer=tokens,
        lowercase=False,  # ``tokens`` lower-cases as the run does (data.text.lowercase)
        token_pattern=None,
        ngram_range=NGRAMS,
        sublinear_tf=True,
        max_features=MAX_FEATURES,  # memory bounded on a large corpus: the most frequent terms
    )
    features = vectorizer.fit_transform(train)
    clf = LogisticRegression(max_iter=MAX_ITER, random_state=seed)
    clf.fit(features, y)
    return np.asarray(clf.predict(vectorizer.transform(test)), dtype=np.int64)


def text_classical_baselines(
    problem: TextProblem, *, seed: int = 0
) -> tuple[dict[str, dict[str, float]], dict[str, str], dict[str, float]]:
    """TF-IDF + logistic regression fitted on train+val and scored on test.

    Returns ``(metrics, failures -> reason, seconds)`` by baseline name."""
    name = TEXT_CLASSICAL[0]
    started = time.perf_counter()
    try:
        train, y_fit = problem.texts("train", "val")
        test, y_test = problem.texts("test")
        pred = tfidf_logreg_predict(train, y_fit, test, problem.text_featurizer.tokens, seed=seed)
    except Exception as exc:  # a baseline never fails the run
        return {}, {name: f"{type(exc).__name__}: {exc}"}, {}
    seconds = {name: round(time.perf_counter() - started, 2)}
    return {name: classify_metrics(pred, y_test, len(problem.classes))}, {}, seconds
