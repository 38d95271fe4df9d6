"""Classification input a new user sends: archive-style ids and labels, repeated times, tokens in a
channel, and the published model's answer in the types it was sent (prepare + Predictor, real
objects)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_classify_frame

from lstmtune.config import load_config
from lstmtune.data.prepare import prepare
from lstmtune.data.prepare_classify import majority_class
from lstmtune.errors import UserError
from lstmtune.features import ClassifyFeaturizer

KEYS = {
    "data.task": "classify",
    "data.sequence_column": "seq",
    "data.label": "y",
    "data.time_column": "t",
}


def _prepare(frame: pd.DataFrame, tmp_path: Path, **keys: Any) -> tuple[Any, Any]:
    path = tmp_path / "seq.csv"
    frame.to_csv(path, index=False)
    overrides = {"data.path": str(path), "output_dir": str(tmp_path / "out"), **KEYS, **keys}
    return prepare(load_config(None, overrides).resolved())


def _with_split(frame: pd.DataFrame) -> pd.DataFrame:
    test = frame["seq"].str.endswith(("-0", "-1", "-2"))
    return frame.assign(split=np.where(test, "test", "train"))


def test_a_time_repeated_within_a_sequence_is_refused_naming_both_rows(tmp_path: Path) -> None:
    frame = make_classify_frame(n_per_class=6)
    twice = pd.concat([frame, frame.iloc[[3]].assign(x1=9.0)], ignore_index=True)
    with pytest.raises(
        UserError,
        match=r"'wave-0' has the time '3' \(data.time_column\) twice, at data rows 4 and 179",
    ):
        _prepare(twice, tmp_path)


def test_ids_numbered_anew_in_each_split_are_named_as_such(tmp_path: Path) -> None:
    frame = _with_split(make_classify_frame(n_per_class=6))
    frame["seq"] = frame["seq"].str.replace("ramp", "wave")  # ramp-0 and wave-0: one id, two files
    frame.loc[frame["seq"] == "wave-0", "split"] = np.where(frame["y"] == "ramp", "test", "train")[
        frame["seq"] == "wave-0"
    ]
    with pytest.raises(UserError, match=r"sequence 'wave-0' .* has rows in the 'train' and 'test'"):
        _prepare(frame, tmp_path, **{"data.split_column": "split"})
    with pytest.raises(UserError, match=r"data\.label and data\.sequence_column both name"):
        _prepare(make_classify_frame(n_per_class=6), tmp_path, **{"data.label": "seq"})


def test_a_channel_of_numbers_with_a_stray_token_is_refused_not_dropped(tmp_path: Path) -> None:
    frame = make_classify_frame(n_per_class=6)
    frame["x2"] = frame["x2"].astype(object)
    frame.loc[5, "x2"] = "?"  # the UCR/ARFF missing marker: a missing value, as an empty cell
    with pytest.raises(UserError, match=r"column 'x2' has a missing value at data row \d+ \(set"):
        _prepare(frame, tmp_path)
    _, meta = _prepare(frame, tmp_path, **{"data.missing": "interpolate"})
    assert meta["columns"]["features"] == ["x1", "x2"]
    frame.loc[5, "x2"] = "oops"  # any other token is refused, naming it
    with pytest.raises(
        UserError, match=r"column 'x2' holds numbers but for 1 value\(s\) such as 'oops'"
    ):
        _prepare(frame, tmp_path)
    frame["x2"] = "note"  # text throughout: not a channel, left out as before
    _, meta = _prepare(frame, tmp_path)
    assert meta["columns"]["features"] == ["x1"]
    from lstmtune.data.columns import feature_columns

    cfg = load_config(None, {**KEYS, "data.path": "x.csv"}).resolved().data
    codes = pd.DataFrame({"x1": [1.0, 2.0, 3.0], "zip": ["01234", " ", "02345"]}, dtype=object)
    codes["x1"] = codes["x1"].astype(float)  # digits as text, a blank cell: not refused, not read
    assert feature_columns(codes, cfg, set(), "x.csv") == ["x1"]


def test_the_published_classifier_answers_in_the_types_it_was_sent(tmp_path: Path) -> None:
    from lstmtune.model import build_model
    from lstmtune.serving import Predictor

    frame = make_classify_frame(n_per_class=6)
    frame["y"] = np.where(frame["y"] == "wave", -1, 1)  # UCR's labels
    frame.loc[7, "x1"] = np.nan
    _, meta = _prepare(frame, tmp_path, **{"data.missing": "interpolate"})
    assert meta["columns"]["label_kind"] == "integer" and meta["classes"] == ["-1", "1"]
    f = ClassifyFeaturizer.from_meta(meta)
    params = {"units": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
    model = build_model(f.n_features, 2, params, zero_head=False)
    spec = {"task": "classify", "featurizer": f.to_dict(), "n_features": f.n_features}
    spec |= {"n_outputs": 2, "params": params, "zero_head": False}
    predictor = Predictor(spec, model.state_dict())
    sent = frame.drop(columns="y").assign(seq=pd.factorize(frame["seq"])[0] + 10)
    out = predictor.predict(sent)  # the NaN of sequence 10 is interpolated, as in training
    assert out["seq"].tolist() == list(range(10, 22)) and set(out["label"]) <= {-1, 1}
    assert out["label"].map(type).eq(int).all()
    filled = sent.copy()
    filled.loc[7, "x1"] = (sent.loc[6, "x1"] + sent.loc[8, "x1"]) / 2
    torch.testing.assert_close(
        out["proba_1"].to_numpy(), predictor.predict(filled)["proba_1"].to_numpy()
    )
    strict = Predictor(
        {**spec, "featurizer": {**f.to_dict(), "missing": "error"}}, model.state_dict()
    )
    with pytest.raises(
        ValueError, match="input column 'x1' has a missing or infinite value in sequence '10'"
    ):
        strict.predict(sent)
    with pytest.raises(ValueError, match="input has no rows"):
        predictor.predict(sent.iloc[:0])


def _day_first(frame: pd.DataFrame, written: str = "%d/%m/%Y") -> pd.DataFrame:
    """The order column as dates from 10 January written day first (``13/01/2020``), rows
    shuffled but for a first row of the 10th: a month-first guess from it reads October."""
    days = pd.Timestamp("2020-01-10") + pd.to_timedelta(frame["t"], unit="D")
    out = frame.assign(t=days.dt.strftime(written)).sample(frac=1.0, random_state=0)
    first = out["t"].str.startswith("10").to_numpy().argmax()
    return pd.concat([out.iloc[[first]], out.drop(index=out.index[first])], ignore_index=True)


@pytest.mark.parametrize("written", ["%d/%m/%Y", "%d.%m.%Y"])
def test_an_order_column_of_day_first_dates_orders_as_its_numbers(
    tmp_path: Path, written: str
) -> None:
    """README promised numbers or ISO dates; European dates were refused at the 13th."""
    from lstmtune.data.sequence_order import order_keys

    frame = make_classify_frame(n_per_class=6)
    assert frame["t"].min() == 0 and frame["t"].max() >= 3  # sequences cross the 13th
    ordered = [
        pd.concat(parts.values()).sort_values("seq", kind="stable")["x1"].to_numpy()
        for parts, _ in (_prepare(f, tmp_path) for f in (frame, _day_first(frame, written)))
    ]
    np.testing.assert_array_equal(ordered[0], ordered[1])
    keys, bad = order_keys(pd.Series(["13/01/2020", "soon"]), np.zeros(2, dtype=int))
    assert bad == 1 and keys[0] == np.datetime64("2020-01-13")
    _, bad = order_keys(pd.Series([3.0, 1.0, np.nan, 4.0]), np.zeros(4, dtype=int))
    assert bad == 2  # numbers but one: that one is named, not the first row
    _, bad = order_keys(pd.Series([1, 2, "?", 4], dtype=object), np.zeros(4, dtype=int))
    assert bad == 2


def test_the_published_classifier_orders_day_first_dates_as_in_training(tmp_path: Path) -> None:
    frame = make_classify_frame(n_per_class=6)
    predictor = _classifier(tmp_path)  # trained on the same frame
    by_number = predictor.predict(frame.drop(columns="y")).set_index("seq")
    dated = _day_first(frame).drop(columns="y")
    by_date = predictor.predict(dated).set_index("seq").loc[by_number.index]
    np.testing.assert_allclose(by_date["proba_wave"], by_number["proba_wave"], rtol=1e-6)
    dated.loc[3, "t"] = "next week"
    with pytest.raises(ValueError, match="input column 't' has an order value 'next week'"):
        predictor.predict(dated)


def _classifier(tmp_path: Path, missing: str = "error") -> Any:
    _, meta = _prepare(make_classify_frame(n_per_class=6), tmp_path, **{"data.missing": missing})
    return _published(meta)


def _published(meta: dict[str, Any]) -> Any:
    """The published classifier of the prepared ``meta`` (an untrained network, seeded)."""
    from lstmtune.model import build_model
    from lstmtune.serving import Predictor

    f = ClassifyFeaturizer.from_meta(meta)
    params = {"units": 4, "num_layers": 1, "dropout": 0.0, "bidirectional": False}
    torch.manual_seed(0)
    model = build_model(f.n_features, 2, params, zero_head=False)
    spec = {"task": "classify", "featurizer": f.to_dict(), "n_features": f.n_features}
    spec |= {"n_outputs": 2, "params": params, "zero_head": False}
    return Predictor(spec, model.state_dict())


def test_the_published_classifier_reads_pandas_na_as_nan_and_names_text_by_row(
    tmp_path: Path,
) -> None:
    sent = make_classify_frame(n_per_class=6).drop(columns="y")
    holed = sent.copy()
    holed.loc[7, "x1"] = np.nan
    filling, strict = _classifier(tmp_path, "ffill"), _classifier(tmp_path)
    for dtype in ("Float64", "object"):
        na = sent.astype({"x1": dtype})
        na.loc[7, "x1"] = pd.NA
        pd.testing.assert_frame_equal(filling.predict(na), filling.predict(holed))
        with pytest.raises(ValueError, match="'x1' has a missing or infinite value in sequence"):
            strict.predict(na)
    for text in ("", "abc"):
        typed = sent.astype({"x1": object})
        typed.loc[7, "x1"] = text
        with pytest.raises(
            ValueError,
            match=rf"^input column 'x1' has a value '{text}' that is not a number at input row 8$",
        ):
            filling.predict(typed)


def test_the_published_classifier_refuses_a_time_repeated_within_a_case(tmp_path: Path) -> None:
    predictor = _classifier(tmp_path)
    sent = make_classify_frame(n_per_class=6).drop(columns="y")
    one = sent[sent["seq"] == "wave-0"].reset_index(drop=True)
    assert one["t"].tolist()[:4] == [0, 1, 2, 3]
    for twice in (one.iloc[[3]], one.iloc[[3]].assign(x1=9.0)):  # the same values or others
        sent_twice = pd.concat([one, twice], ignore_index=True)
        with pytest.raises(
            ValueError,
            match=rf"^sequence 'wave-0' has the time '3' \(input column 't'\) twice, at input rows "
            rf"4 and {len(one) + 1}; each time of a sequence may appear once$",
        ):
            predictor.predict(sent_twice)
    other = one.assign(seq="wave-1")  # the same times in another case: fine
    assert len(predictor.predict(pd.concat([one, other], ignore_index=True))) == 2


def test_the_published_classifier_refuses_a_missing_id_and_ids_that_read_alike(
    tmp_path: Path,
) -> None:
    predictor = _classifier(tmp_path)
    sent = make_classify_frame(n_per_class=6).drop(columns="y")
    one = sent[sent["seq"] == "wave-0"].reset_index(drop=True)
    for missing in (None, np.nan, pd.NA):
        with pytest.raises(
            ValueError,
            match=r"^input column 'seq' has a missing value at input row 1; every row needs its "
            "sequence id$",
        ):
            predictor.predict(one.assign(seq=missing))
    half = pd.concat([one, one.assign(seq=None)], ignore_index=True)
    with pytest.raises(ValueError, match=rf"missing value at input row {len(one) + 1};"):
        predictor.predict(half)
    ramp = sent[sent["seq"] == "ramp-0"].reset_index(drop=True)
    mixed = pd.concat([one.assign(seq=5), ramp.assign(seq="5")], ignore_index=True)
    with pytest.raises(
        ValueError,
        match=rf"^input column 'seq' has the sequence ids 5 \(input row 1\) and '5' \(input row "
        rf"{len(one) + 1}\): different values that read as the same id",
    ):
        predictor.predict(mixed)
    apart = pd.concat([one.assign(seq=5), ramp.assign(seq=6)], ignore_index=True)
    assert predictor.predict(apart)["seq"].tolist() == [5, 6]


def test_an_unusable_order_value_is_printed_plainly(tmp_path: Path) -> None:
    frame = make_classify_frame(n_per_class=6)
    frame["t"] = frame["t"].astype(float)
    frame.loc[7, "t"] = np.nan
    with pytest.raises(UserError) as err:
        _prepare(frame, tmp_path)
    assert "unusable order value nan at data row 8 " in str(err.value)
    assert "np.float64" not in str(err.value)


def test_the_majority_class_counts_train_and_val_and_breaks_ties_by_class_order(
    tmp_path: Path,
) -> None:
    """Train alone holds three 'wave' and one 'ramp'; train+val (what the published model and the
    baselines are fitted on) three of each: a tie, which goes to the first class in sorted order,
    'ramp', whatever order the rows came in."""
    frame = _with_split(make_classify_frame(n_per_class=6))
    frame.loc[frame["seq"].isin(["ramp-4", "ramp-5"]), "split"] = "val"
    for rows in (frame, frame.iloc[::-1]):
        _, meta = _prepare(rows, tmp_path, **{"data.split_column": "split"})
        assert meta["majority_class"] == "ramp"
    labels = pd.Series({"a": "x", "b": "y", "c": "y", "d": "x", "e": "x"})
    assign = {"a": "train", "b": "train", "c": "train", "d": "val", "e": "test"}
    assert majority_class(assign, labels, ["x", "y"]) == "x"  # a tie of two: the first class
    assert majority_class({**assign, "d": "test"}, labels, ["x", "y"]) == "y"


def test_labels_are_classes_without_the_spaces_around_them(tmp_path: Path) -> None:
    frame = make_classify_frame(n_per_class=6)
    spaced = frame["seq"].isin(["wave-1", "ramp-2"])  # 'wave ' and ' ramp' in a few rows only
    frame.loc[spaced, "y"] = frame.loc[spaced, "y"].map({"wave": "wave ", "ramp": "ramp  "})
    _, meta = _prepare(frame.astype({"y": object}), tmp_path)
    assert meta["classes"] == ["ramp", "wave"]  # not 'ramp  ' and 'wave ' beside them


def _numbered(frame: pd.DataFrame) -> pd.DataFrame:
    """The sequences numbered from 5, as pandas leaves ids it has met as ints and as floats: an
    object column of ``5`` and ``5.0`` (every other row a float)."""
    number = pd.factorize(frame["seq"])[0] + 5
    mixed = [float(n) if i % 2 else int(n) for i, n in enumerate(number)]
    return frame.assign(seq=pd.Series(mixed, index=frame.index, dtype=object))


def test_a_whole_number_float_id_is_the_int_id_in_one_batch(tmp_path: Path) -> None:
    """Ids ``5`` and ``5.0`` in one batch were two sequences, each scored on half its rows."""
    predictor = _classifier(tmp_path)
    sent = make_classify_frame(n_per_class=6).drop(columns="y")
    by_int = predictor.predict(_numbered(sent).astype({"seq": "int64"}))
    assert by_int["seq"].tolist() == list(range(5, 17))
    mixed = predictor.predict(_numbered(sent))
    floats = predictor.predict(_numbered(sent).astype({"seq": "float64"}))
    for out in (mixed, floats):
        assert out["seq"].tolist() == list(range(5, 17))  # one row a sequence, ids as sent
        pd.testing.assert_frame_equal(out.drop(columns="seq"), by_int.drop(columns="seq"))
    assert floats["seq"].map(type).eq(float).all()
    holed = _numbered(sent).astype({"seq": "float64"})
    holed.loc[holed["seq"] == 6.0, "x1"] = np.nan  # named as training names it: '6', not '6.0'
    with pytest.raises(ValueError, match=r"missing or infinite value in sequence '6' \("):
        predictor.predict(holed)
    one = sent[sent["seq"] == "wave-0"].reset_index(drop=True)
    text = pd.concat([one.assign(seq=5.0), one.assign(seq="5")], ignore_index=True)
    with pytest.raises(
        ValueError,
        match=rf"^input column 'seq' has the sequence ids 5.0 \(input row 1\) and '5' \(input "
        rf"row {len(one) + 1}\): different values that read as the same id",
    ):
        predictor.predict(text)
    halves = pd.concat([one.assign(seq=5.5), one.assign(seq=5)], ignore_index=True)
    assert predictor.predict(halves)["seq"].tolist() == [5.5, 5]  # not whole: another id


def test_training_and_the_published_model_read_ids_5_and_5_0_as_one_sequence(
    tmp_path: Path,
) -> None:
    """A Parquet file of the mixed ids (pyarrow stores them as floats) trains on twelve sequences
    named '5' … '16'; the same frame served is the same twelve sequences under the same names."""
    frame = _numbered(make_classify_frame(n_per_class=6))
    path = tmp_path / "seq.parquet"
    frame.to_parquet(path)
    overrides = {"data.path": str(path), "output_dir": str(tmp_path / "out"), **KEYS}
    parts, meta = prepare(load_config(None, overrides).resolved())
    names = [str(n) for n in range(5, 17)]
    assert meta["n_sequences"] == 12
    assert sorted(pd.concat(parts.values())["seq"].unique(), key=int) == names  # not '5.0'
    predictor = _published(meta)
    out = predictor.predict(frame.drop(columns="y"))
    assert out["seq"].tolist() == list(range(5, 17))
    test = parts["test"]  # the test split as the prepare step wrote it: text ids, '5'
    scored = predictor.predict(test.drop(columns="y")).set_index("seq")
    again = out.assign(seq=out["seq"].map(lambda v: str(int(v)))).set_index("seq")
    pd.testing.assert_frame_equal(scored, again.loc[scored.index])
    twice = pd.concat([frame, frame.iloc[[2]]], ignore_index=True)
    twice.to_parquet(path)
    with pytest.raises(UserError, match=r"sequence '5' has the time '2' \(data.time_column\)"):
        prepare(load_config(None, overrides).resolved())
    with pytest.raises(ValueError, match=r"^sequence '5' has the time '2' \(input column 't'\)"):
        predictor.predict(twice.drop(columns="y"))
