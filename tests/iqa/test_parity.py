"""Parity with the authors' MATLAB/Octave scores (shared/data/iqa-parity/scores.tsv).

The tolerance is ``PARITY_ATOL`` (1e-8) of tests/numerics.py: the measured deviation
is at most 1.5e-10, and any two rows of the table differ by at least 2.2e-5, so a
pair scored against the wrong row fails.
"""
import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from numerics import PARITY_ATOL
from skgrad.iqa import SparsePatchAutoencoder, activation_quality, gradient_quality

PARITY = Path("data") / "iqa-parity"
COLUMNS = ("unique_activation_quality", "gradient_quality")

_TSV = Path(__file__).resolve().parents[2].parent / "shared" / PARITY / "scores.tsv"
ROWS = list(csv.DictReader(_TSV.open(), delimiter="\t")) if _TSV.is_file() else []
#: Without ../shared one placeholder case, which the shared_dir fixture skips (or, in
#: CI, fails): never an empty parametrization that pytest would skip on its own.
CASES = ROWS or [None]


def _read_rgb(path):
    from PIL import Image
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def authors_model(shared_dir):
    return SparsePatchAutoencoder.from_mat(
        shared_dir / "data" / "unique" / "ImageNet_Weights_YGCr.mat")


@pytest.fixture(scope="module")
def read_pair(shared_dir):
    cache = {}

    def read(name):
        if name not in cache:
            cache[name] = _read_rgb(shared_dir / PARITY / name)
        return cache[name]
    return read


def test_parity_table_has_the_documented_pairs(read_pair):
    """The table lists what shared/data/iqa-parity/README.md documents: the authors'
    TID2013 demo pair, then 3 photos x 4 distortions x levels 1-3, all 512x384."""
    assert ROWS, f"{_TSV} was not read at collection time"
    assert ROWS[0]["reference"] == "tid2013_demo_reference.png"
    assert ROWS[0]["distorted"] == "tid2013_demo_distorted.png"
    expected = [(f"{photo}.png", f"{photo}_{kind}_{level}.png")
                for photo in ("astronaut", "coffee", "chelsea")
                for kind in ("noise", "blur", "jpeg", "contrast")
                for level in (1, 2, 3)]
    assert [(r["reference"], r["distorted"]) for r in ROWS[1:]] == expected
    for r in ROWS:
        for name in (r["reference"], r["distorted"]):
            assert read_pair(name).shape == (384, 512, 3), name
    for r in ROWS:
        for column in COLUMNS:
            assert 0 < float(r[column]) < 1, (r, column)


def test_tolerance_tells_every_two_rows_apart(shared_dir):
    """A score that matched another row's value (a swapped or mislabelled pair) fails."""
    for column in COLUMNS:
        values = [float(r[column]) for r in ROWS]
        closest = min(abs(a - b) for a, b in itertools.combinations(values, 2))
        assert 2 * PARITY_ATOL < closest / 100, (column, closest)


@pytest.mark.parametrize("row", CASES, ids=[r["distorted"] for r in ROWS] or ["shared-absent"])
def test_scores_match_authors_code(row, authors_model, read_pair):
    reference = read_pair(row["reference"])
    distorted = read_pair(row["distorted"])
    activation = activation_quality(reference=reference, distorted=distorted, model=authors_model)
    gradient = gradient_quality(reference=reference, distorted=distorted, model=authors_model)
    assert abs(activation - float(row["unique_activation_quality"])) <= PARITY_ATOL
    assert abs(gradient - float(row["gradient_quality"])) <= PARITY_ATOL


def test_identical_images_score_one(authors_model, read_pair):
    image = read_pair(ROWS[1]["reference"])
    assert activation_quality(reference=image, distorted=image, model=authors_model) == pytest.approx(1.0, rel=0, abs=PARITY_ATOL)
    assert gradient_quality(reference=image, distorted=image, model=authors_model) == pytest.approx(1.0, rel=0, abs=PARITY_ATOL)
