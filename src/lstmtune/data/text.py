"""Text classification data: a documented word-level tokenizer with a vocabulary built on the
train split only, stratified split by row (texts that read the same kept in one split).

Tokenizer: lower-case (``data.text.lowercase``), then tokens are runs of letters/digits/
apostrophes, and every other non-space character is a token of its own (``"Don't stop!"`` ->
``["don't", "stop", "!"]``). The vocabulary keeps tokens seen at least ``min_freq`` times in
the train split, most frequent first, at most ``max_vocab`` of them; index 0 is padding, 1 is
``<unk>`` for everything else. Each text is read up to ``data.text.max_length`` tokens (auto:
:func:`auto_max_length` of the train split, which only far longer texts exceed): the recurrent
network steps through every token, so one 20 000-token text made a trial outlast
``tune.timeout``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from lstmtune.config import DataConfig
from lstmtune.data.columns import (
    class_names,
    configured_columns,
    label_kind,
    refuse_missing,
    require_columns,
)
from lstmtune.data.splits import (
    SPLITS,
    grouped_stratified_pick,
    split_size,
    split_values,
)
from lstmtune.errors import UserError

PAD, UNK = "<pad>", "<unk>"
TOKEN_RE = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)
#: ``data.text.max_length: auto``: this many times the train texts' 95th percentile of tokens,
#: at least :data:`AUTO_MIN_LENGTH`
AUTO_FACTOR, AUTO_QUANTILE, AUTO_MIN_LENGTH = 4, 0.95, 256


def tokenize(text: str, *, lowercase: bool = True) -> list[str]:
    return TOKEN_RE.findall(text.lower() if lowercase else text)


def auto_max_length(lengths: list[int]) -> int:
    """The cap of ``data.text.max_length: auto`` for train texts of ``lengths`` tokens: far above
    the usual length (:data:`AUTO_FACTOR` times the :data:`AUTO_QUANTILE` quantile), so that only
    the few outliers that would dominate a trial's time are cut."""
    usual = float(np.quantile(lengths, AUTO_QUANTILE, method="lower")) if lengths else 0.0
    return max(AUTO_MIN_LENGTH, math.ceil(AUTO_FACTOR * usual))


def build_vocab(texts: list[str], *, min_freq: int, max_vocab: int, lowercase: bool) -> list[str]:
    counts = Counter(tok for t in texts for tok in tokenize(t, lowercase=lowercase))
    kept = sorted(
        (tok for tok, n in counts.items() if n >= min_freq), key=lambda tok: (-counts[tok], tok)
    )
    return [PAD, UNK, *kept[: max(0, max_vocab - 2)]]


def prepare_text(
    frame: pd.DataFrame, cfg: DataConfig, source: str, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Check the text and label columns, split by row (stratified), build the vocabulary on the
    train split; the three splits (text and label columns only) and the metadata."""
    text_col, label_col = _check_columns(frame, cfg, source)
    texts, labels = _texts_and_labels(frame, text_col, label_col, source)
    classes = class_names(labels, label_col, source)
    clean = pd.DataFrame({text_col: texts.to_numpy(), label_col: labels.to_numpy()})
    ids = [str(i) for i in range(len(clean))]
    by_id = pd.Series(labels.to_numpy(), index=ids)
    same = pd.Series(_normalised(texts).to_numpy(), index=ids)  # a duplicate's group: its text
    assign = _assign_splits(frame, cfg, source, ids, (by_id, same), seed)
    split = pd.Series([assign[s] for s in ids])
    parts = {name: clean[(split == name).to_numpy()].reset_index(drop=True) for name in SPLITS}
    _check_splits(parts, label_col, classes, (source, int(same.nunique())))
    meta = _text_meta(cfg, clean, parts, text_col, label_col, classes)
    meta["columns"]["label_kind"] = label_kind(frame[label_col])  # served labels typed alike
    meta["test_texts_seen"] = test_texts_seen(parts, text_col)
    return parts, meta


def test_texts_seen(parts: dict[str, pd.DataFrame], text_col: str) -> int:
    """How many test texts appear word for word (spaces and case aside) in train+val: the test
    figures partly measure recall of texts the model was fitted on."""
    fitted = pd.concat([parts["train"][text_col], parts["val"][text_col]])
    seen = set(_normalised(fitted))
    return int(_normalised(parts["test"][text_col]).isin(seen).sum())


def _normalised(texts: pd.Series) -> pd.Series:
    return texts.astype(str).str.strip().str.casefold().str.split().str.join(" ")


def _check_columns(frame: pd.DataFrame, cfg: DataConfig, source: str) -> tuple[str, str]:
    """The text and label column names, both configured, present and without missing values."""
    text_col, label_col = configured_columns(frame, cfg, source, "text", ("text_column", "label"))
    require_columns(
        frame, source, text_column=text_col, label=label_col, split_column=cfg.split_column
    )
    if label_col == text_col:
        raise UserError(
            f"{source}: data.label and data.text_column both name column '{text_col}'; the "
            "model would read its own answer"
        )
    refuse_missing(frame, [text_col, label_col], source)
    return text_col, label_col


def _texts_and_labels(
    frame: pd.DataFrame, text_col: str, label_col: str, source: str
) -> tuple[pd.Series, pd.Series]:
    """The texts as strings (none empty) and the labels as stripped strings."""
    texts = frame[text_col].astype(str)
    empty = (texts.str.strip() == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise UserError(
            f"{source}: column '{text_col}' (data.text_column) has an empty text at data row "
            f"{i + 1}"
        )
    return texts, frame[label_col].astype(str).str.strip()


def _assign_splits(
    frame: pd.DataFrame,
    cfg: DataConfig,
    source: str,
    ids: list[str],
    labels_and_texts: tuple[pd.Series, pd.Series],
    seed: int,
) -> dict[str, str]:
    """Each row id's split: from ``data.split_column`` (val drawn from train, stratified, when
    the column has none), else a stratified random draw of test, then val. Every draw keeps the
    texts that read the same (case and spacing aside) in one split, so that a test text is
    never one the model was fitted on (:func:`~lstmtune.data.splits.grouped_stratified_pick`);
    the user's own split is kept as given (:func:`test_texts_seen` counts what it shares)."""
    by_id, same = labels_and_texts
    rng = np.random.default_rng(seed)
    if cfg.split_column is not None:
        split_vals = split_values(frame, cfg.split_column, source)
        assign: dict[str, str] = dict(zip(ids, split_vals.to_numpy(), strict=True))
        if "val" not in assign.values():
            train_ids = [s for s, v in assign.items() if v == "train"]
            n_val = split_size(cfg.val_size, len(train_ids), "val_size")
            for s in grouped_stratified_pick(train_ids, by_id, same, n_val, rng):
                assign[s] = "val"
        return assign
    n_test = split_size(cfg.test_size, len(ids), "test_size")
    n_val = split_size(cfg.val_size, len(ids), "val_size")
    if n_test + n_val >= len(ids):
        raise UserError(
            f"{source}: {len(ids)} texts are too few for data.val_size={cfg.val_size:g} and "
            f"data.test_size={cfg.test_size:g}"
        )
    test_ids = set(grouped_stratified_pick(ids, by_id, same, n_test, rng))
    rest = [s for s in ids if s not in test_ids]
    val_ids = set(grouped_stratified_pick(rest, by_id, same, n_val, rng))
    return {s: "test" if s in test_ids else "val" if s in val_ids else "train" for s in ids}


def _check_splits(
    parts: dict[str, pd.DataFrame],
    label_col: str,
    classes: list[str],
    source_and_distinct: tuple[str, int],
) -> pd.Series:
    """Every split has texts and the train split every class; the train split's class counts.
    ``source_and_distinct``: the file and its number of distinct texts (duplicates go to one
    split whole, so a file of few distinct texts can leave a split empty)."""
    source, distinct = source_and_distinct
    n = sum(len(part) for part in parts.values())
    for name in SPLITS:
        if parts[name].empty:
            why = (
                f"; its {n} texts are {distinct} distinct ones, and texts that read the same"
                " (case and spacing aside) are kept in one split"
                if distinct < n
                else ""
            )
            raise UserError(
                f"{source}: the {name} split has no texts (check data.val_size / data.test_size"
                f"{why})"
            )
    train_counts = parts["train"][label_col].value_counts()
    if len(train_counts) < len(classes):
        missing = sorted(set(classes) - set(train_counts.index))[0]
        raise UserError(
            f"{source}: class {missing!r} of column '{label_col}' has no text in the train split"
        )
    return train_counts


def _text_meta(
    cfg: DataConfig,
    clean: pd.DataFrame,
    parts: dict[str, pd.DataFrame],
    text_col: str,
    label_col: str,
    classes: list[str],
) -> dict[str, Any]:
    """The metadata of a text data set: columns, classes, the train-only vocabulary, the
    tokenizer's settings, split sizes and the longest text in tokens."""
    tcfg = cfg.text
    vocab = build_vocab(
        parts["train"][text_col].tolist(),
        min_freq=tcfg.min_freq,
        max_vocab=tcfg.max_vocab,
        lowercase=tcfg.lowercase,
    )
    if len(vocab) <= 2:  # <pad> and <unk> only: every text reads as unknown words
        counts = Counter(
            tok for t in parts["train"][text_col] for tok in tokenize(t, lowercase=tcfg.lowercase)
        )
        top = max(counts.values(), default=0)
        raise UserError(
            f"data.text.min_freq: {tcfg.min_freq} leaves no word in the vocabulary (the most "
            f"frequent word of the train split appears {top} time(s)); lower it"
        )
    lengths = [len(tokenize(t, lowercase=tcfg.lowercase)) for t in clean[text_col]]
    cap = tcfg.max_length
    if cap == "auto":
        cap = auto_max_length(
            [len(tokenize(t, lowercase=tcfg.lowercase)) for t in parts["train"][text_col]]
        )
    return {
        "task": "text",
        "columns": {"text": text_col, "label": label_col, "features": [text_col], "dtypes": {}},
        "classes": classes,
        **_fitted_classes(parts, label_col, classes),
        "vocab": vocab,
        "tokenizer": {
            "lowercase": tcfg.lowercase,
            "max_length": cap,
            "pattern": TOKEN_RE.pattern,
        },
        "texts_cut": sum(n > cap for n in lengths) if cap else 0,  # of the whole file
        "scaler": {},
        "splits": {
            name: {"rows": len(parts[name]), "sequences": len(parts[name])} for name in SPLITS
        },
        "max_sequence_length": int(min(max(lengths), cap or max(lengths))),  # as read
        "n_rows": len(clean),
        "n_sequences": len(clean),
    }


class TextFeaturizer:
    """Raw strings -> padded token ids ``[N, T]`` and lengths ``[N]`` (never empty)."""

    def __init__(
        self,
        text_column: str,
        classes: list[str],
        vocab: list[str],
        lowercase: bool,
        max_length: int | None,
        label_kind: str = "text",
        class_prior: list[float] | None = None,
    ) -> None:
        self.text_column, self.classes, self.vocab = text_column, classes, vocab
        self.lowercase, self.max_length = lowercase, max_length
        self.label_kind = label_kind  # integer, float, bool: served labels typed as trained
        self.class_prior = class_prior  # None: a model published before it was recorded
        self.index = {tok: i for i, tok in enumerate(vocab)}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> TextFeaturizer:
        tok = meta["tokenizer"]
        return cls(
            str(meta["columns"]["text"]),
            [str(c) for c in meta["classes"]],
            list(meta["vocab"]),
            bool(tok["lowercase"]),
            tok.get("max_length"),
            str(meta["columns"].get("label_kind", "text")),
            meta.get("class_prior"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "text_column": self.text_column,
            "classes": self.classes,
            "vocab": self.vocab,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
            "label_kind": self.label_kind,
            "class_prior": self.class_prior,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TextFeaturizer:
        return cls(
            d["text_column"],
            d["classes"],
            d["vocab"],
            d["lowercase"],
            d.get("max_length"),
            str(d.get("label_kind", "text")),
            d.get("class_prior"),
        )

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def tokens(self, text: object) -> list[str]:
        """The tokens of ``text`` the network reads (``data.text.max_length`` of them at most),
        before the vocabulary maps them to ids."""
        tokens = tokenize(str(text), lowercase=self.lowercase)
        return tokens[: self.max_length] if self.max_length else tokens

    def unknown(self, texts: list[str]) -> np.ndarray:
        """Whether each text has no token the vocabulary knows (among those the network reads):
        the network sees ``<unk>`` only, whose embedding the train split may never have shaped."""
        return np.asarray(
            [all(tok not in self.index for tok in self.tokens(t)) for t in texts], dtype=bool
        )

    def prior_where_unknown(self, texts: list[str], proba: np.ndarray) -> np.ndarray:
        """``proba`` with the rows of texts of unknown words only (:meth:`unknown`) replaced by
        the class shares of train+val: no word read, no evidence, so no confidence either (the
        label, the largest share, is the majority class). Unchanged without a recorded prior."""
        if self.class_prior is None or not len(texts):
            return proba
        out = np.array(proba, copy=True)
        out[self.unknown(texts)] = np.asarray(self.class_prior, dtype=out.dtype)
        return out

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        unk = self.index[UNK]
        seqs = [[self.index.get(tok, unk) for tok in self.tokens(t)] or [unk] for t in texts]
        lengths = np.asarray([len(s) for s in seqs], dtype=np.int64)
        padded = np.zeros((len(seqs), int(lengths.max()) if len(seqs) else 1), dtype=np.int64)
        for i, s in enumerate(seqs):
            padded[i, : len(s)] = s
        return padded, lengths


def _fitted_classes(
    parts: dict[str, pd.DataFrame], label_col: str, classes: list[str]
) -> dict[str, Any]:
    """The majority class of train+val (what the model and the baselines are fitted on; of
    classes with equally many texts, the first in class order), the classes with one text
    there (learnt from one example) and each class's share of train+val (what the model answers
    for a text it knows no word of: :meth:`TextFeaturizer.prior_where_unknown`)."""
    fitted = pd.concat([parts["train"][label_col], parts["val"][label_col]]).astype(str)
    counts = fitted.value_counts()
    n = {c: int(counts.get(str(c), 0)) for c in classes}
    top = max(n.values())
    return {
        "majority_class": next(str(c) for c in classes if n[c] == top),
        "single_sequence_classes": sorted(str(c) for c in classes if n[c] == 1),
        "class_prior": [n[c] / len(fitted) for c in classes],
    }
