"""What every ``skgrad`` command shares: the error type, option types, output helpers.

Imports only the standard library at module level: ``skgrad --help`` and
argument errors load neither torch, dask, matplotlib nor the IQA code.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROG = "skgrad"


class CLIError(Exception):
    """A problem with the user's input: exit code 2 and this one-line message."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise CLIError(f"{message} (see '{self.prog} --help')")


def one_line(text):
    return " ".join(str(text).split())


def note(msg):
    print(f"{PROG}: note: {msg}", file=sys.stderr, flush=True)


def progress_enabled(args):
    return bool(args.verbose) or sys.stderr.isatty()


# ------------------------------------------------------------------ option types
def bounded(convert, ok, what):
    """An argparse ``type``: ``convert(text)`` when it succeeds and ``ok`` accepts the
    value, else the one message ``must be <what>, got <text>``."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return parse


positive_int = bounded(int, lambda v: v >= 1, "a positive integer")
nonnegative_int = bounded(int, lambda v: v >= 0, "an integer >= 0")
random_state = bounded(int, lambda v: 0 <= v < 2**32, "an integer seed in [0, 2**32)")


class Given(argparse.Action):
    """Store the value and remember that it was given explicitly."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, self.dest + "_given", True)


def common_options():
    common = Parser(add_help=False)
    g = common.add_argument_group("common options")
    g.add_argument("--device", default="auto", help="'auto' (a CUDA GPU when there is one), 'cpu', 'cuda' or 'cuda:N'")
    g.add_argument("--random-state", type=random_state, default=0, metavar="N", help="seed (default 0)")
    g.add_argument("--batch-size", type=positive_int, default=64, metavar="N", action=Given,
                   help="images per batch (default 64)")
    g.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="at most N torch and BLAS threads (default: torch on the cores other processes "
                        "leave idle, n_threads='auto'; the demo: 1)")
    g.add_argument("-v", "--verbose", action="store_true", help="progress bars and stage messages on stderr")
    g.add_argument("--debug", action="store_true", help="show the Python traceback on errors")
    return common


def output_option(p, default):
    p.add_argument("--output", default=default, metavar="DIR", help=f"folder to write to (default {default})")


# ---------------------------------------------------------------------- checks
def check_device(args):
    """Check ``--device`` before any work starts."""
    from .._validation import resolve_device

    try:
        return resolve_device(args.device)
    except ValueError as exc:
        raise CLIError(f"--device {args.device}: {one_line(exc)}") from None


def output_dir(args):
    """``--output`` as a Path; an existing non-folder is an error."""
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--output {args.output}: exists and is not a directory")
    return out


def make_dir(path, option):
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot create it: {one_line(exc)}") from None


def check_dir(path, option):
    p = Path(os.path.expanduser(path))
    if not p.exists():
        raise CLIError(f"{option} {path}: no such directory")
    if not p.is_dir():
        raise CLIError(f"{option} {path}: not a directory")
    return p


class atomic_open:
    """Write a text file through ``<name>.tmp`` and rename it when the block ends without error."""

    def __init__(self, path):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")

    def __enter__(self):
        try:
            self.fh = open(self.tmp, "w", newline="", encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"cannot write {self.path}: {one_line(exc)}") from None
        return self.fh

    def __exit__(self, exc_type, *rest):
        self.fh.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
        return False


def write_json(path, obj):
    import json

    from ..report import to_jsonable

    with atomic_open(path) as fh:
        fh.write(json.dumps(to_jsonable(obj), indent=1, allow_nan=False))


# ---------------------------------------------------------------------- models
#: The presets' names, without importing torch (checked against skgrad.models.PRESETS in the tests).
PRESETS = ("vae", "cae", "dense")


def load_saved_model(spec, device, option="--model"):
    """A gradient or activation transformer saved by :func:`skgrad.persistence.save`."""
    import warnings

    from .._base import AutoencoderTransformerBase
    from ..persistence import load

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "fitted on cuda, now on the CPU": we pass device
            est = load(spec, device=device)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise CLIError(f"{option} {spec}: {one_line(exc)}") from None
    if not isinstance(est, AutoencoderTransformerBase):  # save also writes detectors and IQA models
        raise CLIError(f"{option} {spec}: holds a {type(est).__name__}; the CLI takes a saved gradient or "
                       "activation transformer")
    return est


def resolve_model(spec, args):
    """("preset", name) or ("saved", fitted estimator)."""
    if spec in PRESETS:
        return "preset", spec
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        return "saved", load_saved_model(path, args.device)
    if path.exists():
        raise CLIError(f"--model {spec}: not a file")
    raise CLIError(
        f"--model {spec}: neither a preset ({', '.join(PRESETS)}) nor an existing model file (from skgrad.persistence.save)"
    )


def image_geometry(est, option="--model"):
    shape = tuple(getattr(est, "sample_shape_", ()))
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise CLIError(f"{option}: the saved model was fitted on samples of shape {shape}, not on images (H, W, 1 or 3)")
    return (shape[0], shape[1]), shape[2]


def size_arg(args):
    return None if args.image_size is None else (args.image_size, args.image_size)


def transformer_params(args):
    params = dict(batch_size=args.batch_size, random_state=args.random_state,
                  device=args.device, verbose=bool(args.verbose))
    if args.epochs is not None:  # else the estimator's default: at most 200, with early stopping
        params["epochs"] = args.epochs
    return params


def epochs_text(args):
    if args.epochs is not None:
        return f"{args.epochs} epochs"
    from .. import GradientFeatureTransformer

    return f"up to {GradientFeatureTransformer().epochs} epochs, early stopping"


def save_model(est, path, option):
    from ..persistence import save

    try:
        save(est, path)
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot write: {one_line(exc)}") from None
