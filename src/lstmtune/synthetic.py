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
