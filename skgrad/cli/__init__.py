"""The ``skgrad`` command.

::

    skgrad demo    [--quick] [--output DIR]                 the paper's experiments on built-in images
    skgrad ood     --train DIR --test DIR [--outliers DIR]  score images as in- or out-of-distribution
    skgrad ood     --cure-tsr ROOT [--classifier mlp]       the paper's OOD protocol and table on CURE-TSR
    skgrad challenges --images DIR --out ROOT               a CURE-TSR-style benchmark from any images
    skgrad iqa     --dataset NAME --root PATH [--weights F] full-reference quality on an IQA database
    skgrad extract --model MODEL --images DIR --out F.npy   gradient features of a folder, to .npy

Common options: ``--device``, ``--random-state``, ``--batch-size``, ``--threads``,
``-v/--verbose``, ``--debug`` (and ``--output DIR`` where a command writes a folder).

One module per command (``demo``, ``ood`` with ``_ood_cure``, ``iqa``, ``extract``,
``challenges``):
each parses its options, calls the library and prints.  Problems with the input
(missing paths, unreadable images, an unknown folder layout, bad option values)
are raised as :class:`CLIError` and end the command with exit code 2 and one line
on stderr, ``skgrad: error: ...``; ``--debug`` adds the Python traceback.  Ctrl-C
ends it with exit code 130.  Parsing imports the standard library only: the
commands import torch, dask, matplotlib or the IQA code when they run.
"""
from __future__ import annotations

import os
import sys
import traceback

from . import challenges, demo, extract, iqa, ood
from ._common import PROG, CLIError, Parser, common_options, one_line

__all__ = ["main", "build_parser", "CLIError"]

COMMANDS = (demo, ood, iqa, extract, challenges)


def build_parser():
    """The argument parser of every command (standard library only)."""
    from .. import __version__

    parser = Parser(prog=PROG, description="Autoencoder weight gradients as features: OOD detection and IQA "
                    "(Kwon et al., ICIP 2019).")
    parser.add_argument("--version", action="version", version=f"skgrad {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    common = common_options()
    for command in COMMANDS:
        command.add_parser(sub, common)
    return parser


class _Threads:
    """Limit torch's and the BLAS libraries' thread pools (``--threads``) for a block."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        if self.n is not None:
            import torch
            from threadpoolctl import threadpool_limits

            self._torch = torch.get_num_threads()
            torch.set_num_threads(self.n)
            self._limits = threadpool_limits(limits=self.n)
        return self

    def __exit__(self, *exc):
        if self.n is not None:
            import torch

            self._limits.restore_original_limits()
            torch.set_num_threads(self._torch)
        return False


def main(argv=None):
    """Run the ``skgrad`` command; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 for a problem with the input (one line on stderr), 130
        when interrupted, 1 for an internal error.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    debug = "--debug" in argv
    args = None
    try:
        args = build_parser().parse_args(argv)
        if not hasattr(args, "batch_size_given"):
            args.batch_size_given = False
        # the demo limits threads itself (--threads, default 1), in both of its processes
        with _Threads(args.threads if getattr(args, "threads_here", True) else None):
            return args.func(args)
    except CLIError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print(f"\n{PROG}: interrupted{getattr(args, 'interrupt_hint', '')}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `skgrad ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 1
    except Exception as exc:  # a bug, not a user error
        if debug:
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {one_line(exc)} (run again with --debug for the "
              "traceback)", file=sys.stderr)
        return 1
