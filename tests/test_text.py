"""Text classification: tokenizer, train-only vocabulary, splits, and the whole pipeline with a
published model that takes raw strings."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_text_frame

from lstmtune.config import RunConfig, load_config
from lstmtune.data.prepare import prepare
from lstmtune.data.text import PAD, UNK, TextFeaturizer, build_vocab, tokenize
from lstmtune.errors import UserError
from lstmtune.model import build_model
from lstmtune.problems import make_problem
from lstmtune.serving import Predictor
from lstmtune.training import train

TEXT = {"data.task": "text", "data.text_column": "review", "data.label": "sentiment"}


def test_tokenizer_is_word_level_and_documented() -> None:
    assert tokenize("Don't STOP, believing!") == ["don't", "stop", ",", "believing", "!"]
    assert tokenize("Don't", lowercase=False) == ["Don't"]


def test_vocabulary_is_built_on_train_only_with_min_freq_and_max_size() -> None:
    vocab = build_vocab(["a a b", "a b c"], min_freq=2, max_vocab=10, lowercase=True)
    assert vocab == [PAD, UNK, "a", "b"]
    assert build_vocab(["a a b b c c"], min_freq=1, max_vocab=3, lowercase=True) == [PAD, UNK, "a"]


def test_prepare_text_splits_stratified_and_vocab_ignores_test(
    text_csv: str, tmp_path: Path
) -> None:
    cfg = load_config(
        None, {**TEXT, "data.path": text_csv, "data.text.min_freq": 1, "output_dir": str(tmp_path)}
    ).resolved()
    parts, meta = prepare(cfg)
    assert meta["task"] == "text" and meta["classes"] == ["neg", "pos"]
    for name in ("train", "val", "test"):
        assert set(parts[name]["sentiment"]) == {"neg", "pos"}
    train_tokens = {t for text in parts["train"]["review"] for t in tokenize(text)}
    assert set(meta["vocab"][2:]) <= train_tokens
    assert meta["search_space"]["embedding_dim"]["type"] == "categorical"
    f = TextFeaturizer.from_meta(meta)
    ids, lengths = f.encode(["great fun", "zzzunseen", ""])
    assert ids.shape[0] == 3 and list(lengths) == [2, 1, 1]
    assert ids[1, 0] == meta["vocab"].index(UNK)


@pytest.mark.parametrize(
    ("frame", "overrides", "message"),
    [
        (pd.DataFrame({"review": ["good"] * 10, "sentiment": ["pos"] * 10}), {}, "single class"),
        (
            pd.DataFrame({"review": ["good", ""] * 10, "sentiment": ["pos", "neg"] * 10}),
            {},
            "missing value at data row 2",
        ),
        (
            pd.DataFrame({"text": ["good", "bad"] * 10, "sentiment": ["pos", "neg"] * 10}),
            {},
            "column 'review' (data.text_column) not found",
        ),
        (
            pd.DataFrame({"review": ["good", "bad"] * 10, "sentiment": ["pos", "neg"] * 10}),
            {"data.text_column": None},
            "data.text_column is required",
        ),
        (
            pd.DataFrame({"review": ["good", "bad"] * 10, "sentiment": ["pos", "neg"] * 10}),
            {},  # two distinct texts: duplicates go to one split whole
            "the val split has no texts (check data.val_size / data.test_size; its 20 texts are 2"
            " distinct ones, and texts that read the same (case and spacing aside) are kept in one"
            " split)",
        ),
        (
            pd.DataFrame(
                {"review": [f"w{i}" for i in range(20)], "sentiment": ["pos", "neg"] * 10}
            ),
            {"data.text.min_freq": 1000},  # it trained a model that read <unk> only
            "data.text.min_freq: 1000 leaves no word in the vocabulary (the most frequent word",
        ),
        (
            pd.DataFrame({"review": ["good", "bad"] * 10, "sentiment": ["pos", "neg"] * 10}),
            {"data.label": "review"},  # it used to run: the model read its own answer
            "data.label and data.text_column both name column 'review'",
        ),
    ],
)
def test_bad_text_input_is_one_clear_error(
    tmp_path: Path, frame: pd.DataFrame, overrides: dict[str, object], message: str
) -> None:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    cfg = load_config(
        None, {**TEXT, "data.path": str(path), "output_dir": str(tmp_path), **overrides}
    ).resolved()
    with pytest.raises(UserError, match=re.escape(message)):
        prepare(cfg)


def test_embedding_lstm_learns_the_sentiment_words(text_csv: str, tmp_path: Path) -> None:
    cfg = load_config(
        None, {**TEXT, "data.path": text_csv, "data.text.min_freq": 1, "output_dir": str(tmp_path)}
    ).resolved()
    parts, meta = prepare(cfg)
    params = {
        "units": 32,
        "embedding_dim": 32,
        "num_layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
        "bidirectional": True,
        "learning_rate": 0.01,
        "batch_size": 16,
        "optimizer": "adam",
        "weight_decay": 0.0,
        "epochs": 25,
        "cell": "lstm",
        "head": "mean",
    }
    problem = make_problem(parts, meta, params)
    result = train(
        problem, params, problem.tensors("train"), problem.tensors("val"), patience=8, seed=0
    )
    assert result.best_value < 0.45  # cross-entropy well below chance (0.69)


@pytest.mark.slow
def test_text_pipeline_end_to_end_with_raw_strings(
    tiny_config: Callable[..., RunConfig], text_csv: str
) -> None:
    from lstmtune.runner import run_local

    cfg = tiny_config(
        **{
            **TEXT,
            "data.path": text_csv,
            "data.text.min_freq": 1,
            "tune.n_trials": 2,
            "tune.search_space": {
                "units": 16,
                "embedding_dim": [16, 32],
                "epochs": 8,
                "batch_size": 16,
                "learning_rate": {"type": "float", "low": 0.005, "high": 0.02, "log": True},
            },
        }
    )
    summary = run_local(cfg, display="quiet")
    assert summary["task"] == "text" and set(summary["test_metrics"]) == {"accuracy", "macro_f1"}
    page = Path(summary["report"]).read_text()  # the confusion matrix counts texts
    assert re.search(r"Confusion matrix \(test, \d+ texts\)", page)
    mlflow.set_tracking_uri(summary["tracking_uri"])
    model = mlflow.pyfunc.load_model(summary["model_version_uri"])
    out = model.predict(
        pd.DataFrame(
            {
                "review": [
                    "A wonderful, brilliant film!",
                    "Dull and tedious plot...",
                    "never seen words",
                ]
            }
        )
    )
    assert list(out.columns) == ["label", "proba_neg", "proba_pos"]
    assert len(out) == 3 and out[["proba_neg", "proba_pos"]].sum(axis=1).round(5).eq(1).all()
    numbers = model.predict(pd.DataFrame({"review": [1234, 5678]}))  # a string signature refused
    assert len(numbers) == 2
    picked = model.predict(pd.DataFrame({"review": ["brilliant", "tedious"]}, index=[9, 4]))
    assert list(picked.index) == [9, 4]  # MLflow keeps the index the model gives: joinable


def test_the_published_text_model_answers_in_the_label_types_and_refuses_what_training_does(
    tmp_path: Path,
) -> None:
    """Integer labels were served as strings (``'1'``), an empty batch crashed in
    ``pack_padded_sequence`` and a blank text got a label though training refuses one."""
    frame = make_text_frame(n_per_class=10)
    frame["sentiment"] = np.where(frame["sentiment"] == "pos", 1, -1)
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    cfg = load_config(
        None, {**TEXT, "data.path": str(path), "data.text.min_freq": 1, "output_dir": str(tmp_path)}
    ).resolved()
    _, meta = prepare(cfg)
    assert meta["columns"]["label_kind"] == "integer"
    f = TextFeaturizer.from_meta(meta)
    params = {"units": 4, "embedding_dim": 4, "num_layers": 1, "dropout": 0.0}
    params |= {"bidirectional": False, "cell": "lstm", "head": "mean"}
    model = build_model(1, 2, params, zero_head=False, vocab_size=f.vocab_size)
    spec = {"task": "text", "featurizer": f.to_dict(), "n_features": 1, "n_outputs": 2}
    spec |= {"params": params, "zero_head": False, "vocab_size": f.vocab_size}
    predictor = Predictor(spec, model.state_dict())
    out = predictor.predict(pd.DataFrame({"review": ["a great film", 1234]}))
    assert out["label"].map(type).eq(int).all() and set(out["label"]) <= {-1, 1}
    assert list(out.columns) == ["label", "proba_-1", "proba_1"]
    with pytest.raises(ValueError, match="input has no rows"):
        predictor.predict(pd.DataFrame({"review": []}))
    with pytest.raises(ValueError, match="'review' has an empty text at input row 2"):
        predictor.predict(pd.DataFrame({"review": ["fine", "   "]}))
    with pytest.raises(ValueError, match="'review' has a missing text at input row 3"):
        predictor.predict(pd.DataFrame({"review": ["fine", "good", None]}))
    picked = pd.DataFrame({"review": ["a great film", "dull", "fine"]}, index=[7, 3, 11])
    served = predictor.predict(picked)  # a filtered frame's rows: joinable by index
    assert list(served.index) == [7, 3, 11]
    assert picked.join(served)["label"].notna().all()


def test_a_class_of_one_text_is_warned_of_and_the_majority_counts_train_and_val(
    tmp_path: Path,
) -> None:
    from lstmtune.steps import _single_sequence_warning

    frame = make_text_frame(n_per_class=10)
    frame.loc[0, "sentiment"] = "meh"  # one text of its own class
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    keys = {**TEXT, "data.path": str(path), "data.text.min_freq": 1, "output_dir": str(tmp_path)}
    parts, meta = prepare(load_config(None, keys).resolved())
    assert meta["single_sequence_classes"] == ["meh"]
    fitted = pd.concat([parts["train"], parts["val"]])["sentiment"].value_counts()
    assert meta["majority_class"] == sorted(fitted.index[fitted == fitted.max()])[0]
    line = _single_sequence_warning(["meh"], "text")
    assert "have a single text in train+val" in line and "TF-IDF too" in line


def _with_duplicates(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    """40 texts and 10 of them again, upper-cased and with a leading space."""
    frame = make_text_frame(n_per_class=20)
    twice = pd.concat(
        [frame, frame.head(10).assign(review=lambda f: " " + f["review"].str.upper())]
    )
    path = tmp_path / "reviews.csv"
    twice.to_csv(path, index=False)
    return twice, path


def test_texts_that_read_the_same_are_kept_in_one_split(tmp_path: Path) -> None:
    from lstmtune.data.text import test_texts_seen

    _, path = _with_duplicates(tmp_path)
    for seed in range(5):
        keys = {**TEXT, "data.path": str(path), "data.text.min_freq": 1, "train.seed": seed}
        parts, meta = prepare(load_config(None, {**keys, "output_dir": str(tmp_path)}).resolved())
        assert meta["test_texts_seen"] == test_texts_seen(parts, "review") == 0
        where = {
            " ".join(t.casefold().split()): name for name in parts for t in parts[name]["review"]
        }
        for name in parts:  # the same text never in two splits, val included
            assert all(where[" ".join(t.casefold().split())] == name for t in parts[name]["review"])
        assert [len(parts[n]) for n in ("val", "test")] == [8, 8]  # 0.15 of 50, as without groups


def test_the_grouped_pick_is_the_stratified_pick_without_duplicates() -> None:
    from lstmtune.data.splits import grouped_stratified_pick, stratified_pick

    labels = pd.Series({f"s{i}": "abc"[i % 3] if i < 40 else "a" for i in range(60)})
    alone = pd.Series({s: s for s in labels.index})
    for seed in range(5):
        ids = list(labels.index)
        rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
        assert grouped_stratified_pick(ids, labels, alone, 12, rng_a) == stratified_pick(
            ids, labels, 12, rng_b
        )
    # one group holds b's only two texts (one labelled b, one a): it stays out of the pick
    labels = pd.Series({"a0": "a", "a1": "a", "a2": "a", "a3": "a", "b0": "b", "b1": "a"})
    groups = pd.Series({"a0": "x", "a1": "y", "a2": "z", "a3": "w", "b0": "g", "b1": "g"})
    for seed in range(10):
        picked = grouped_stratified_pick(
            list(labels.index), labels, groups, 3, np.random.default_rng(seed)
        )
        assert "b0" not in picked and "b1" not in picked and len(picked) == 3


def test_test_texts_that_train_and_val_hold_too_are_counted_and_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file's own split is kept as given: what it shares is counted and warned of."""
    from lstmtune import steps
    from lstmtune.data.text import test_texts_seen

    twice, path = _with_duplicates(tmp_path)
    twice.assign(split=["train"] * 30 + ["test"] * 20).to_csv(path, index=False)
    keys = {**TEXT, "data.path": str(path), "data.text.min_freq": 1, "output_dir": str(tmp_path)}
    cfg = load_config(None, {**keys, "data.split_column": "split"}).resolved()
    parts, meta = prepare(cfg)
    assert meta["test_texts_seen"] == test_texts_seen(parts, "review") == 10  # spaces, case aside
    steps.prepare_step(cfg.model_dump_json(), str(tmp_path / "ds"))
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "test texts also appear" in x]
    assert f"{meta['test_texts_seen']} of the {meta['splits']['test']['rows']} test texts" in line


def test_a_text_of_unknown_words_only_gets_the_class_shares_not_a_confident_label(
    tmp_path: Path,
) -> None:
    """The network read ``<unk>`` only, an embedding training never shaped, and answered a
    confident class of its own; served and evaluated, such a text gets train+val's class shares."""
    from lstmtune.final_classify import evaluate_classify

    frame = make_text_frame(n_per_class=30)
    frame = pd.concat(
        [frame, frame[frame["sentiment"] == "neg"].assign(review="ok " + frame["review"])]
    )
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    keys = {**TEXT, "data.path": str(path), "data.text.min_freq": 1, "output_dir": str(tmp_path)}
    parts, meta = prepare(load_config(None, keys).resolved())
    fitted = pd.concat([parts["train"], parts["val"]])["sentiment"]
    shares = [float((fitted == c).mean()) for c in meta["classes"]]
    assert meta["class_prior"] == pytest.approx(shares) and shares[0] > 0.6  # neg: 2 in 3
    f = TextFeaturizer.from_meta(meta)
    params = {"units": 4, "embedding_dim": 4, "num_layers": 1, "dropout": 0.0}
    params |= {"bidirectional": False, "cell": "lstm", "head": "last"}
    torch.manual_seed(0)
    model = build_model(1, 2, params, zero_head=False, vocab_size=f.vocab_size)
    with torch.no_grad():  # an <unk> embedding that drives the network to 'pos', confidently
        model.head.bias.copy_(torch.tensor([-5.0, 5.0]))
    spec = {"task": "text", "featurizer": f.to_dict(), "n_features": 1, "n_outputs": 2}
    spec |= {"params": params, "zero_head": False, "vocab_size": f.vocab_size}
    texts = ["zzqx blorp", "ZZQX", "a great film", "xyzzy " * 50]
    out = Predictor(spec, model.state_dict()).predict(
        pd.DataFrame({"review": texts}, index=[5, 6, 7, 8])
    )
    assert list(out.columns) == ["label", "proba_neg", "proba_pos"] and list(out.index) == [
        5,
        6,
        7,
        8,
    ]
    unknown = out.loc[[5, 6, 8]]
    assert (unknown["label"] == "neg").all()  # the majority class
    assert unknown[["proba_neg", "proba_pos"]].to_numpy() == pytest.approx(np.array([shares] * 3))
    assert out.loc[7, "label"] == "pos" and out.loc[7, "proba_pos"] > 0.99  # a known word: read
    older = {**spec, "featurizer": {**f.to_dict(), "class_prior": None}}  # published before
    assert (
        Predictor(older, model.state_dict()).predict(pd.DataFrame({"review": texts}))["label"]
        == "pos"
    ).all()
    problem = make_problem(parts, meta, params)
    test = parts["test"].assign(review=lambda t: t["review"].where(t.index % 2 == 1, "qqq zzz"))
    problem.parts = {**parts, "test": test}
    ev = evaluate_classify(problem, model, meta, seed=0)
    assert ev.details["test_texts_unknown"] == (test.index % 2 == 0).sum()
    assert (
        ev.confusion["matrix"][0][0] + ev.confusion["matrix"][1][0]
        >= ev.details["test_texts_unknown"]
    )


def test_very_long_texts_are_cut_to_a_length_from_the_data_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A few 20 000-token texts made one trial outlast tune.timeout: the recurrent network
    steps through every token."""
    from lstmtune import steps
    from lstmtune.data.text import auto_max_length

    frame = make_text_frame(n_per_class=30)
    long = pd.DataFrame({"review": ["fine film " * 3000] * 2 + ["dull " * 400], "sentiment": "neg"})
    path = tmp_path / "reviews.csv"
    pd.concat([frame, long], ignore_index=True).to_csv(path, index=False)
    keys = {**TEXT, "data.path": str(path), "data.text.min_freq": 1, "output_dir": str(tmp_path)}
    cfg = load_config(None, keys).resolved()
    meta = prepare(cfg)[1]
    assert auto_max_length([10] * 95 + [20000] * 5) == 256  # the outliers set no cap of their own
    assert auto_max_length(list(range(1, 1001))) == 3800  # 4 x the 95th percentile
    assert meta["tokenizer"]["max_length"] == 256 and meta["texts_cut"] == 3
    assert meta["max_sequence_length"] == 256
    ids, lengths = TextFeaturizer.from_meta(meta).encode(["fine film " * 3000, "a great film"])
    assert list(lengths) == [256, 3] and ids.shape == (2, 256)
    steps.prepare_step(cfg.model_dump_json(), str(tmp_path / "ds"))
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "longer than" in x]
    assert "3 text(s) longer than 256 tokens are read up to that many" in line
    never = tmp_path / "never.yaml"
    never.write_text("data:\n  text:\n    max_length: null\n")
    uncut = prepare(load_config(str(never), keys).resolved())[1]
    assert uncut["tokenizer"]["max_length"] is None and uncut["texts_cut"] == 0
    assert uncut["max_sequence_length"] == 6000
    with pytest.raises(UserError, match="max_length"):
        load_config(None, {**keys, "data.text.max_length": 0})


def test_a_trial_stops_after_the_epoch_that_passes_the_tuning_deadline(text_csv: str) -> None:
    import time

    cfg = load_config(None, {**TEXT, "data.path": text_csv, "data.text.min_freq": 1}).resolved()
    parts, meta = prepare(cfg)
    params = {"units": 4, "embedding_dim": 4, "num_layers": 1, "dropout": 0.0, "epochs": 6}
    params |= {"bidirectional": False, "cell": "lstm", "head": "mean", "learning_rate": 0.01}
    problem = make_problem(parts, meta, params)
    sets = problem.tensors("train"), problem.tensors("val")
    late = train(problem, params, *sets, patience=99, deadline=time.time())
    assert late.epochs_run == 1 and late.stopped_early and late.best_epoch == 1
    assert train(problem, params, *sets, patience=99, deadline=None).epochs_run == 6
