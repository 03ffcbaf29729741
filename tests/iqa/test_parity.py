"""Parity with the authors' MATLAB/Octave scores (shared/data/iqa-parity/scores.tsv)."""
import csv
from pathlib import Path

import numpy as np
import pytest

from skgrad.iqa import SparsePatchAutoencoder, activation_quality, gradient_quality

PARITY = Path("data") / "iqa-parity"
TOLERANCE = 1e-3

_TSV = Path(__file__).resolve().parents[2].parent / "shared" / PARITY / "scores.tsv"
ROWS = list(csv.DictReader(_TSV.open(), delimiter="\t")) if _TSV.is_file() else []


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


def test_parity_table_is_present(shared_dir):
    rows = list(csv.DictReader((shared_dir / PARITY / "scores.tsv").open(),
                               delimiter="\t"))
    assert len(rows) == len(ROWS) > 0


@pytest.mark.parametrize("row", ROWS, ids=[r["distorted"] for r in ROWS])
def test_scores_match_authors_code(row, authors_model, read_pair):
    reference = read_pair(row["reference"])
    distorted = read_pair(row["distorted"])
    activation = activation_quality(reference, distorted, authors_model)
    gradient = gradient_quality(reference, distorted, authors_model)
    assert abs(activation - float(row["unique_activation_quality"])) <= TOLERANCE
    assert abs(gradient - float(row["gradient_quality"])) <= TOLERANCE


def test_identical_images_score_one(authors_model, read_pair):
    image = read_pair(ROWS[1]["reference"] if len(ROWS) > 1 else ROWS[0]["reference"])
    assert activation_quality(image, image, authors_model) == pytest.approx(1.0)
    assert gradient_quality(image, image, authors_model) == pytest.approx(1.0)
