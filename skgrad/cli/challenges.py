"""``skgrad challenges``: a CURE-TSR-style benchmark from any folder of images."""
from __future__ import annotations

import time

from ._common import CLIError, bounded, check_dir, one_line, progress_enabled

HELP = "write a CURE-TSR-style benchmark (12 challenge types x 5 levels) from a folder of images"


_fraction = bounded(float, lambda v: 0 < v < 1, "a number in (0, 1)")
_size = bounded(int, lambda v: v >= 8, "an integer >= 8")
_code = bounded(int, lambda v: 1 <= v <= 12, "a challenge code 1..12")


def add_parser(sub, common):
    p = sub.add_parser("challenges", parents=[common], help=HELP,
                       description="Split the images of --images into train/val/test and write them, challenge-free "
                       "and under each CURE-TSR challenge type at levels 1-5, in the layout of Kwon et al.'s code "
                       "(RealChallengeFree/{train,val,test}, RealChallenge/TT_LL/{train,val,test}, 7-field .bmp "
                       "names), so that `skgrad ood --cure-tsr OUT` runs on it.")
    p.add_argument("--images", required=True, metavar="DIR", help="folder of images (searched recursively)")
    p.add_argument("--out", required=True, metavar="ROOT", help="folder to write (must not hold a CURE-TSR tree)")
    p.add_argument("--size", type=_size, default=64, metavar="N",
                   help="side of the written square images (centre crop, bicubic; default 64)")
    p.add_argument("--train", type=_fraction, default=0.7, metavar="F", help="share of the images in train (0.7)")
    p.add_argument("--val", type=_fraction, default=0.1, metavar="F", help="share in val (0.1); test gets the rest")
    p.add_argument("--types", type=_code, nargs="+", metavar="TT", default=None,
                   help="challenge codes to write (default all 12; the OOD protocol needs 1 2 3 5 7 8 9)")
    p.add_argument("--working-size", type=_size, default=None, metavar="N",
                   help="frame pixels an image spans: challenges are rendered at this resolution (default 64)")
    p.set_defaults(func=run)


def run(args):
    from ..cure import make_cure_challenges
    from ..distortions import WORKING_SIZE

    images = check_dir(args.images, "--images")
    if args.train + args.val >= 1:
        raise CLIError(f"--train {args.train} and --val {args.val} leave nothing for test: their sum must be below 1")
    t0 = time.perf_counter()
    try:
        info = make_cure_challenges(
            images, args.out, size=args.size, fractions=(args.train, args.val, 1 - args.train - args.val),
            challenge_types=args.types, working_size=args.working_size or WORKING_SIZE,
            random_state=args.random_state, progress=progress_enabled(args))
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        raise CLIError(f"{one_line(exc)}") from None
    except OSError as exc:
        raise CLIError(f"--out {args.out}: cannot write: {one_line(exc)}") from None
    n = info["n_images"]
    print(f"wrote {info['n_files']} images to {info['root']}: {n['train']} train, {n['val']} val, {n['test']} test "
          f"source images, challenge-free and {len(info['challenge_types'])} challenge type(s) x "
          f"{len(info['levels'])} levels ({time.perf_counter() - t0:.0f} s)")
    print(f"next: skgrad ood --cure-tsr {info['root']}")
    return 0
