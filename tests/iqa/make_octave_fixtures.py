"""Regenerate ``tests/iqa/data/octave_fixtures.npz`` with GNU Octave.

Not run by the test suite (the tests only read the committed ``.npz``).  Needs
``octave`` with the image package on PATH (Debian: ``apt-get install octave
octave-image``); the committed fixture was made with Octave 7.3.0 and
octave-image 2.14.0, the versions behind ``shared/data/iqa-parity/scores.tsv``.

Usage::

    .venv/bin/python tests/iqa/make_octave_fixtures.py
"""
from pathlib import Path
import subprocess
import tempfile

import numpy as np
from scipy import io

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "data" / "octave_fixtures.npz"

#: (shape, scale) of the random uint8 images resized by Octave's imresize.
RESIZE_CASES = [
    ((17, 23, 3), 0.5),
    ((16, 16, 3), 0.5),
    ((9, 14), 0.5),
    ((31, 20, 3), 0.5),
    ((40, 33, 3), 0.5),
    ((8, 8, 3), 0.5),
    ((37, 29, 3), 0.25),
    ((20, 25), 1 / 3),
    ((7, 9, 3), 2.0),
    ((9, 8), 1.5),
]


def all_colours():
    """Every uint8 RGB colour, as a (2**24, 3) array."""
    grid = np.meshgrid(*[np.arange(256, dtype=np.uint8)] * 3, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=-1)


def matlab_formula_ycbcr(colours):
    """MATLAB's documented rgb2ycbcr (3-decimal coefficients), rounded."""
    matrix = np.array([[65.481, 128.553, 24.966],
                       [-37.797, -74.203, 112.0],
                       [112.0, -93.786, -18.214]])
    values = colours @ matrix.T / 255.0 + [16.0, 128.0, 128.0]
    return np.floor(values + 0.5).astype(np.uint8)


def select_colours(colours, ycbcr, rng):
    """Octave's results for 4000 random colours, the cube corners and every colour
    where MATLAB's documented formula disagrees with Octave (the discriminating
    cases; about 1400)."""
    disagree = np.flatnonzero(np.any(matlab_formula_ycbcr(colours) != ycbcr, axis=1))
    corners = np.flatnonzero(np.all((colours == 0) | (colours == 255), axis=1))
    random = rng.choice(len(colours), size=4000, replace=False)
    keep = np.unique(np.concatenate([corners, random, disagree]))
    return colours[keep], ycbcr[keep], len(disagree)


def make_inputs(rng):
    inputs = {"n_resize": len(RESIZE_CASES)}
    for k, (shape, scale) in enumerate(RESIZE_CASES):
        image = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if k == 1:
            # a smooth image too, so that outputs are not dominated by clipping
            yy, xx = np.mgrid[:shape[0], :shape[1]]
            image = (127 + 100 * np.sin(yy / 3.0)[..., None]
                     * np.cos(xx / 4.0)[..., None] * np.ones(shape)).astype(np.uint8)
        inputs[f"resize_{k}_image"] = image
        inputs[f"resize_{k}_scale"] = float(scale)
    # the whole RGB cube; a subset is kept in the fixture (see select_colours)
    inputs["colours"] = all_colours()[:, None, :]
    inputs["kurtosis_input"] = rng.standard_normal((6, 64)) ** 3
    return inputs


def main():
    rng = np.random.default_rng(20190922)
    inputs = make_inputs(rng)
    with tempfile.TemporaryDirectory() as tmp:
        in_path, out_path = Path(tmp) / "in.mat", Path(tmp) / "out.mat"
        io.savemat(in_path, inputs)
        subprocess.run(
            ["octave", "--no-gui", "--quiet", "--no-window-system", "--eval",
             f"make_octave_fixtures('{in_path}', '{out_path}')"],
            cwd=HERE, check=True)
        outputs = io.loadmat(out_path)
    version = subprocess.run(["octave", "--version"], capture_output=True,
                             text=True).stdout.splitlines()[0]
    arrays = {}
    for k, (shape, scale) in enumerate(RESIZE_CASES):
        arrays[f"resize_{k}_image"] = inputs[f"resize_{k}_image"]
        arrays[f"resize_{k}_scale"] = np.float64(scale)
        arrays[f"resize_{k}_uint8"] = outputs[f"resize_{k}_uint8"].reshape(
            outputs[f"resize_{k}_uint8"].shape[:2] + tuple(shape[2:]))
        arrays[f"resize_{k}_double"] = outputs[f"resize_{k}_double"].reshape(
            arrays[f"resize_{k}_uint8"].shape)
    arrays["n_resize"] = np.int64(len(RESIZE_CASES))
    arrays["colours"], arrays["ycbcr"], n_disagree = select_colours(
        inputs["colours"][:, 0, :], outputs["ycbcr"][:, 0, :], rng)
    print(f"{n_disagree} colours where MATLAB's documented rgb2ycbcr formula "
          "disagrees with Octave")
    arrays["kurtosis_input"] = inputs["kurtosis_input"]
    arrays["kurtosis"] = outputs["kurtosis"].ravel()
    arrays["octave_version"] = np.array(version)
    OUTPUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUTPUT, **arrays)
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size} bytes) with {version}")


if __name__ == "__main__":
    main()
