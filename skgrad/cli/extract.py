"""``skgrad extract``: the features of an image folder into a ``.npy`` file (or on a dask cluster)."""
from __future__ import annotations

import os
from pathlib import Path

from ._common import (CLIError, atomic_open, check_device, epochs_text, image_geometry, load_saved_model, make_dir,
                      nonnegative_int, note, one_line, positive_int, progress_enabled, resolve_model, save_model,
                      size_arg, transformer_params)

HELP = "features of an image folder into a .npy file"


def add_parser(sub, common):
    p = sub.add_parser("extract", parents=[common], help=HELP,
                       description="Write the features of every image below --images (sorted by path) into --out, "
                       "through a .partial file renamed at the end; --resume continues a killed run. Also writes "
                       "OUT.paths.txt with the files in row order.")
    p.add_argument("--model", required=True, metavar="MODEL", help="preset (vae, cae, dense; fitted on the images first) "
                   "or a model file saved with skgrad.persistence.save")
    p.add_argument("--images", required=True, metavar="DIR", help="image folder (searched recursively)")
    p.add_argument("--out", required=True, metavar="FEATURES.npy", help="the .npy file to write")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--epochs", type=nonnegative_int, default=None, metavar="N", help="most training epochs of a preset (default 200, with early stopping)")
    p.add_argument("--features", choices=("gradients", "activations"), default=None,
                   help="for a preset: gradient (default) or activation features")
    p.add_argument("--image-size", type=positive_int, default=None, metavar="N",
                   help="for a preset: resize images to N x N (default 28)")
    p.add_argument("--chunk-size", type=positive_int, default=None, metavar="N",
                   help="rows written per step (default 16 x batch size)")
    p.add_argument("--save-model", metavar="PATH", help="for a preset: also save the fitted model (to extract other "
                   "folders with the same model)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on a dask cluster (e.g. tcp://host:8786): workers read the images and write their rows; "
                   "needs the dask extra and the images visible to every worker at the same path")
    p.set_defaults(func=run, interrupt_hint="; run it again with --resume to continue")


def _paths_file(out):
    """``<out>.paths.txt``: the image files in row order, relative to --images."""
    return out.with_name(out.name + ".paths.txt")


def _partial_model(out):
    """``<out>.partial.model``: a preset fitted by an interrupted run, to resume with exactly that model."""
    return out.with_name(out.name + ".partial.model")


def _write_paths(out, rel):
    with atomic_open(_paths_file(out)) as fh:
        fh.write("".join(r + "\n" for r in rel))


def _estimator(args, kind, model, n_images, partial_model):
    """The fitted transformer and its description; ``(size, channels)`` of the images it reads."""
    if kind == "saved":
        if args.epochs is not None:
            raise CLIError(f"--epochs applies to presets only; --model {args.model} is already trained")
        size, channels = image_geometry(model)
        if args.image_size is not None and (args.image_size,) * 2 != size:
            raise CLIError(f"--image-size {args.image_size}: the saved model takes {size[0]}x{size[1]} images")
        if args.features is not None:
            raise CLIError(f"--features applies to presets only; --model {args.model} is a saved "
                           f"{type(model).__name__}")
        if args.save_model:
            raise CLIError("--save-model applies to presets only (the model is already saved)")
        if args.batch_size_given:
            model.set_params(batch_size=args.batch_size)
        return model.set_params(verbose=False), f"saved model {args.model} ({type(model).__name__})", size, channels
    return None, f"{args.model} preset", size_arg(args) or (28, 28), 3


def run(args):
    import numpy as np

    from ..datasets import ImageFolderArray, check_images, list_images
    from ..extract import ResumeError, extract, progress

    check_device(args)
    out = Path(os.path.expanduser(args.out))
    if out.is_dir():
        raise CLIError(f"--out {args.out}: is a directory; give the .npy file to write")
    if out.parent.exists() and not out.parent.is_dir():
        raise CLIError(f"--out {args.out}: {out.parent} is not a directory")
    try:
        paths = list_images(args.images)
    except (OSError, ValueError) as exc:
        msg = one_line(exc)
        raise CLIError(f"--images {msg}" if msg.startswith(str(args.images)) else f"--images {args.images}: {msg}") from None
    root = Path(os.path.expanduser(args.images))
    rel = [p.relative_to(root).as_posix() for p in paths]
    partial_model = _partial_model(out)
    done = progress(out) if args.resume else None
    if args.resume and done is None:
        if out.exists():
            if not _paths_file(out).exists():
                _write_paths(out, rel)
            print(f"{out} is complete: nothing to resume")
            return 0
        note(f"--resume: no interrupted run at {out}.partial; starting from the beginning")
    try:
        check_images(paths)
    except (OSError, ValueError) as exc:
        raise CLIError(f"--images: {one_line(exc)}") from None

    kind, model = resolve_model(args.model, args)
    est, how, size, channels = _estimator(args, kind, model, len(paths), partial_model)
    X = ImageFolderArray(paths, size, channels)
    make_dir(out.parent, "--out: folder")  # before any fitting: fail early
    if kind == "preset":
        if done is not None and partial_model.exists():  # the interrupted run's model, exactly
            est = load_saved_model(partial_model, args.device, "--resume: the interrupted run's model")
            est.set_params(batch_size=args.batch_size, verbose=False)
        else:
            from .. import ActivationFeatureTransformer, GradientFeatureTransformer

            cls = ActivationFeatureTransformer if args.features == "activations" else GradientFeatureTransformer
            note(f"fitting the {args.model!r} preset ({cls.__name__}, {epochs_text(args)}) on the {len(X)} images "
                 f"at {size[0]}x{size[1]}")
            est = cls(args.model, **transformer_params(args)).fit(X[:])
            est.set_params(verbose=False)
            if args.save_model:
                save_model(est, Path(os.path.expanduser(args.save_model)), "--save-model")
            save_model(est, partial_model, "--out")
        how += f", {type(est).__name__}, fitted on these images"
    if done is not None:
        note(f"--resume: continuing the interrupted run at row {done} of {len(paths)}")
    client = _client(args) if args.scheduler else None
    try:
        extract(est, X, out, chunk_size=args.chunk_size, resume=bool(args.resume), overwrite=True, client=client,
                verbose=progress_enabled(args))
    except ResumeError as exc:
        raise CLIError(f"--resume: {one_line(exc)}; run again without --resume") from None
    except OSError as exc:  # the images were checked above: this is the output
        raise CLIError(f"--out {args.out}: cannot write: {one_line(exc)}") from None
    finally:
        if client is not None:
            client.close()
    if args.scheduler:
        how += f"; on the dask cluster {args.scheduler}"
    _write_paths(out, rel)
    partial_model.unlink(missing_ok=True)
    shape = np.load(out, mmap_mode="r").shape
    print(f"wrote {out}: {shape[0]} x {shape[1]} float32 features ({how})")
    print(f"rows follow the file list in {_paths_file(out)} (paths relative to {root})")
    return 0


def _client(args):
    try:
        from distributed import Client
    except ImportError:
        raise CLIError("--scheduler needs dask and distributed: pip install 'skgrad[dask]'") from None
    try:
        return Client(args.scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CLIError(f"--scheduler {args.scheduler}: cannot connect: {one_line(exc)}") from None
