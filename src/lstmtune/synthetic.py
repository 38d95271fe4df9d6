"""Small synthetic data sets for trying the classify and text tasks (and for tests and
benchmarks): generated on the fly, no download, no licence question."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

POSITIVE = ["great", "wonderful", "fun", "brilliant", "loved", "excellent", "moving", "superb"]
NEGATIVE = ["boring", "awful", "dull", "terrible", "hated", "poor", "tedious", "weak"]
FILLER = [
    "the",
    "film",
    "movie",
    "was",
    "and",
    "a",
    "plot",
    "acting",
    "really",
    "quite",
    "story",
    "ending",
    "with",
    "some",
]


def classify_frame(n_per_class: int = 24, seed: int = 0, noise: float = 0.2) -> pd.DataFrame:
    """Long-format sequences of different lengths (6-19 steps): a noisy sine ('wave') vs. a noisy
    ramp ('ramp'), columns ``seq, t, x1, x2, y``; ``noise`` is the standard deviation on ``x1``."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in ("wave", "ramp"):
        for i in range(n_per_class):
            length = int(rng.integers(6, 20))
            for t in range(length):
                base = math.sin(t * 0.9) if label == "wave" else t / length * 2 - 1
                rows.append(
                    {
                        "seq": f"{label}-{i}",
                        "t": t,
                        "x1": base + rng.normal(0, noise),
                        "x2": rng.normal(0, 1.0),
                        "y": label,
                    }
                )
    return pd.DataFrame(rows)


def text_frame(n_per_class: int = 60, seed: int = 0) -> pd.DataFrame:
    """Short reviews of varying length, columns ``review, sentiment`` (pos/neg): the label is
    carried by one or two sentiment words among neutral filler."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        for _ in range(n_per_class):
            length = int(rng.integers(5, 16))
            tokens = list(rng.choice(FILLER, size=length))
            for _ in range(int(rng.integers(1, 3))):
                tokens.insert(int(rng.integers(0, len(tokens) + 1)), str(rng.choice(words)))
            text = " ".join(tokens).capitalize() + rng.choice([".", "!", "..."])
            rows.append({"review": text, "sentiment": label})
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def panel_frame(
    n_series: int = 100,
    length: int = 120,
    seed: int = 0,
    period: int = 12,
    min_length: int | None = None,
) -> pd.DataFrame:
    """Long-format monthly panel (columns ``id``, ``month``, ``y``): series of very different
    levels (1 to 10 000), trends, seasonal amplitudes and noise, with lengths between
    ``min_length`` (default ``length``) and ``length`` and different start months. Each series is
    a level times (trend + season + AR(1) noise), so its seasonal-naive error is known to be
    beatable but not trivial."""
    rng = np.random.default_rng(seed)
    low = length if min_length is None else min_length
    frames = []
    for i in range(n_series):
        n = int(rng.integers(low, length + 1))
        t = np.arange(n)
        level = 10 ** rng.uniform(0, 4)
        season = rng.uniform(0.05, 0.3) * np.sin(2 * math.pi * (t + rng.integers(period)) / period)
        trend = rng.uniform(-0.002, 0.006) * t
        noise = np.zeros(n)
        eps = rng.normal(0, rng.uniform(0.01, 0.05), n)
        for k in range(1, n):
            noise[k] = 0.6 * noise[k - 1] + eps[k]
        y = level * (1 + trend + season + noise).clip(0.05)
        start = pd.Timestamp("2000-01-01") + pd.DateOffset(months=int(rng.integers(0, 24)))
        months = pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m")
        frames.append(pd.DataFrame({"id": f"s{i:04d}", "month": months, "y": y.round(4)}))
    return pd.concat(frames, ignore_index=True)
