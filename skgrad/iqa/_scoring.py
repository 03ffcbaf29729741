"""The arithmetic of the two scores, split into the reference's side and the distorted image's.

A score compares a distorted image with its reference.  What depends on the
reference alone -- its whitened patches, its activations, the decoder weight
gradient ``G`` and the unit weights, the ranks of its own thresholded features --
is a :class:`Reference`: :func:`skgrad.iqa.score_pairs` computes it once per
reference image of a database and scores every distorted version against it
(:func:`distorted_scores`); :func:`pair_scores`, behind the per-pair functions of
:mod:`.quality`, computes both sides of one pair, the distorted one in a worker
thread.  Both routes run the same functions on the same arrays: their scores are
equal bit for bit.

The score is ``|Spearman(reference, distorted)| ** 10`` of the thresholded feature
vectors, and Spearman's rho is Pearson's correlation of the average ranks (as
:func:`skgrad.metrics.spearman` computes it): each vector is ranked on its own
(:func:`skgrad.metrics._ranks.centred_ranks`, in the working memory of
:func:`workspaces`), so that a reference is ranked once.  Ranking is the largest
cost of a score: a 512x384 pair with the authors' 400-unit model has 614,400
gradient and 307,200 activation features per image.
"""
from collections import namedtuple
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import lru_cache
import threading

import numpy as np
from scipy import stats

from ..metrics._ranks import Workspace, _uint64_range, centred_ranks, rank_correlation
from ._preprocess import prepare_patches
from .autoencoder import halves

#: Feature values below this are set to 0 before pooling (a suppression mechanism).
THRESHOLD = 0.025
#: The absolute Spearman correlation is raised to this power.
EXPONENT = 10
#: The scores, by name: UNIQUE's (activations) and Kwon et al.'s (gradients).
SCORES = ("unique", "gradient")

Reference = namedtuple("Reference", ["gradient", "ranks"])
Reference.__doc__ = """What a score needs of a reference image, computed once.

``gradient`` is ``(G, unit_weights)`` (None without the gradient score); ``ranks``
maps each score name to the centred average ranks of the reference's thresholded
features (None where Spearman's rho is undefined).
"""


_LOCAL = threading.local()


def workspaces():
    """This thread's two :class:`~skgrad.metrics._ranks.Workspace` objects: one for
    its own image of a pair, one lent to the worker thread that processes the other
    image (so two calling threads never share one).  Ranking the pooled features is
    most of a score's cost, and much of that was fresh memory (the kernel zeroes
    every new page): the vectors of a workspace serve every pair of a database."""
    pair = getattr(_LOCAL, "pair", None)
    if pair is None:
        pair = _LOCAL.pair = (Workspace(), Workspace())
    return pair


def unit_weights(gradient, n_luma=64):
    """Hidden-unit weights from the kurtosis of the reference gradient.

    Take the first ``n_luma`` rows of the decoder gradient (the Y channel of an
    8x8x3 patch), transpose to ``(n_hidden, n_luma)``, subtract the mean of all
    entries, divide each column by its largest absolute value and compute each
    row's bias-corrected, non-excess sample kurtosis (MATLAB ``kurtosis(x, 0,
    2)``).  Units with kurtosis > 3 get weight 2, the others 1.

    Parameters
    ----------
    gradient : ndarray of shape (n_features, n_hidden)
        Decoder weight gradient (see
        :meth:`SparsePatchAutoencoder.decoder_gradient`).
    n_luma : int, default=64
        Number of leading rows (Y-channel inputs) used.

    Returns
    -------
    weights : ndarray of shape (n_hidden,), float64
        1.0 or 2.0 per hidden unit.

    Examples
    --------
    >>> import numpy as np
    >>> from skgrad.iqa import unit_weights
    >>> g = np.zeros((192, 2))
    >>> g[:64, 0] = np.linspace(-1, 1, 64)      # flat: kurtosis < 3
    >>> g[:64, 1] = 0.01; g[5, 1] = 1.0          # one spike: kurtosis > 3
    >>> unit_weights(g)
    array([1., 2.])
    """
    luma = np.asarray(gradient, dtype=np.float64)[:n_luma].T
    luma = luma - luma.mean()
    luma = luma / np.abs(luma).max(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        kurt = stats.kurtosis(luma, axis=1, fisher=False, bias=False)
    return np.where(kurt > 3, 2.0, 1.0)


def _logit_features(patches, gradient, weights, workspace=None):
    """``[|log(y / (1 - y))| ; angle(log(y / (1 - y)))]`` for ``y = patches @ G``.

    The complex logarithm of a negative real ``r`` is ``log|r| + i pi``; its modulus
    and argument are computed in real arithmetic: ``|log r|`` and 0 or pi for
    ``r > 0``, ``sqrt(log|r|^2 + pi^2)`` and ``atan2(pi, log|r|)`` for ``r < 0``.
    Each hidden unit's values are multiplied by its weight.  With a ``workspace``
    the result and the temporaries are its vectors (see :func:`workspaces`), else new
    arrays.
    """
    shape = (patches.shape[0], gradient.shape[1])              # (n_patches, n_hidden)
    size = shape[0] * shape[1]
    if workspace is None:
        workspace = Workspace()                                # fresh arrays
    y = np.matmul(patches, gradient, out=workspace.get("y", shape, np.float64))
    features = workspace.get("gradient", (2,) + shape, np.float64)
    modulus, argument = features[0], features[1]
    mask = workspace.get("logit mask", shape, np.bool_)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.subtract(1.0, y, out=modulus)
        np.divide(y, modulus, out=y)                           # y is now the ratio
        np.less(y, 0, out=mask)
        count = int(np.count_nonzero(mask))
        negative = np.compress(mask.ravel(), _uint64_range(size).view(np.intp),
                               out=workspace.get("negative", size, np.intp)[:count])
        np.abs(y, out=y)
        np.log(y, out=y)                                       # log|ratio|
    log_neg = np.take(y.ravel(), negative, out=workspace.get("log_neg", size, np.float64)[:count])
    # angle of a real logit: 0 if >= 0 else pi
    np.multiply(np.signbit(y, out=mask), np.pi, out=argument)
    np.abs(y, out=modulus)
    values = workspace.get("logit values", size, np.float64)[:count]
    np.multiply(log_neg, log_neg, out=values)
    values += np.pi ** 2
    np.put(modulus.ravel(), negative, np.sqrt(values, out=values))
    np.put(argument.ravel(), negative, np.arctan2(np.pi, log_neg, out=values))
    features *= weights
    return features.ravel()


#: Values that many thresholded features hold exactly, by score (see
#: :func:`skgrad.metrics._ranks.centred_ranks`): 0, and the argument ``pi * w`` of
#: a positive logit (a quarter of the gradient features) for the unit weights ``w``
#: 1 and 2.
COMMON = {"gradient": (0.0, np.pi, 2 * np.pi), "unique": (0.0,)}


def _threshold_ranks(features, workspace, name, threshold=THRESHOLD):
    """Centred average ranks (:func:`skgrad.metrics._ranks.centred_ranks`) of a
    float64 feature vector after its values below ``threshold`` are set to 0 -- in
    place: ``features`` is the caller's scratch array.  The ranks are ``workspace``'s
    vector ``"ranks:" + name``; None where Spearman's rho is undefined (a NaN, as
    :func:`skgrad.metrics.spearman` decides)."""
    below = np.less(features, threshold, out=workspace.get("mask", features.size, np.bool_))
    np.copyto(features, 0.0, where=below)       # -0.0 and -inf too
    if np.isnan(features, out=below).any():
        return None
    return centred_ranks(features, workspace,
                         workspace.get("ranks:" + name, features.size, np.float64),
                         COMMON.get(name, (0.0,)))


def _rank_score(ranks, other_ranks, exponent=EXPONENT):
    """``|Spearman| ** exponent`` from two vectors' centred ranks; nan if undefined."""
    if ranks is None or other_ranks is None:
        return float("nan")
    return abs(rank_correlation(ranks, other_ranks)) ** exponent


def _patches(image, model):
    return prepare_patches(image, patch_size=model.patch_size, scale=model.scale,
                           epsilon=model.epsilon)


def _gradient_side(patches, activations, model, gradient=None):
    """``(G, unit_weights)`` of a reference's patches and their activations (``G``
    computed here unless given)."""
    if gradient is None:
        gradient = model._decoder_gradient(patches, activations)
    return gradient, unit_weights(gradient, n_luma=model.patch_size ** 2)


def _activation_buffer(patches, model, workspace):
    """The ``(n_patches, n_hidden)`` working array of ``workspace`` that holds an image's
    activations (its UNIQUE features, thresholded there in place)."""
    return workspace.get("unique", (patches.shape[0], model.W1_.shape[0]), np.float64)


def _activations(patches, model, workspace):
    return model._activations(patches, out=_activation_buffer(patches, model, workspace))


def _ranks(patches, gradient, model, scores, workspace, activations=None):
    """``{score: centred ranks}`` of one image's patches, in ``workspace``.

    ``gradient`` is the reference's ``(G, unit_weights)``, or a
    :class:`~concurrent.futures.Future` of it, awaited after the UNIQUE ranks (which
    do not need it); ``activations``, the patches' own when already known, are
    thresholded in place.
    """
    ranks = {}
    if "unique" in scores:
        if activations is None:
            activations = _activations(patches, model, workspace)
        ranks["unique"] = _threshold_ranks(activations.reshape(-1), workspace, "unique")
    if "gradient" in scores:
        if isinstance(gradient, Future):
            gradient = gradient.result()
        features = _logit_features(patches, *gradient, workspace=workspace)
        ranks["gradient"] = _threshold_ranks(features, workspace, "gradient")
    return ranks


def reference_side(image, model, scores=SCORES):
    """The :class:`Reference` of a checked uint8 RGB image."""
    workspace = workspaces()[0]
    patches = _patches(image, model)
    activations = _activations(patches, model, workspace)
    gradient = _gradient_side(patches, activations, model) if "gradient" in scores else None
    ranks = _ranks(patches, gradient, model, scores, workspace, activations)
    return Reference(gradient, {name: None if r is None else r.copy() for name, r in ranks.items()})


def distorted_scores(reference, image, model, scores=SCORES):
    """``{score: value}`` of a checked distorted image against its :class:`Reference`."""
    ranks = _ranks(_patches(image, model), reference.gradient, model, scores, workspaces()[0])
    return {name: _rank_score(reference.ranks[name], ranks[name]) for name in scores}


@lru_cache(maxsize=1)
def _executor():
    """A worker thread: NumPy releases the GIL in the heavy steps (sorting, BLAS,
    ufuncs), so the two images of a pair are processed side by side."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="skgrad-iqa")


def _both(func, first, second):
    """``(func(first), func(second))``, the first one in a worker thread."""
    future = _executor().submit(func, first)
    second_result = func(second)
    return future.result(), second_result


class _SharedProducts:
    """The reference's activations, residual and ``G``, computed by the two threads
    of :func:`pair_scores` when only the gradient score is asked: the worker thread,
    which has no UNIQUE ranks to compute meanwhile, takes the second of the
    :func:`~skgrad.iqa.autoencoder.halves` of each product, the caller the first.
    The halves are the blocks :meth:`SparsePatchAutoencoder._decoder_gradient`
    computes one after the other: the same bits as :func:`reference_side`.  Each
    part's futures carry its exception to the other (:meth:`fail`), so that neither
    waits for a failed thread."""

    CALLER, WORKER = 0, 1

    def __init__(self):
        self.inputs = Future()                    # (patches, activations, residual, G), from the caller
        self.rows_done = (Future(), Future())     # each part's rows of the activations and residual
        self.gradient_done = (Future(), Future())  # each part's rows of G

    def compute(self, patches, model, workspace):
        """The caller's part: ``(activations, G)`` of the reference's ``patches``."""
        activations = _activation_buffer(patches, model, workspace)
        residual = workspace.get("residual", patches.shape, np.float64)
        gradient = np.empty((patches.shape[1], activations.shape[1]))
        self.inputs.set_result((patches, activations, residual, gradient))
        self.part(self.CALLER, model)
        return activations, gradient

    def part(self, k, model):
        """Part ``k``'s half of each product, once the other part's half of the rows
        it needs is done; returns when both halves of ``G`` are."""
        patches, activations, residual, gradient = self.inputs.result()
        rows, features = halves(patches.shape[0])[k], halves(patches.shape[1])[k]
        model._activation_rows(patches, rows, activations)
        model._residual_rows(patches, activations, rows, residual)
        self.rows_done[k].set_result(None)
        self.rows_done[1 - k].result()          # G's rows need every row of both
        model._gradient_rows(residual, activations, features, gradient)
        self.gradient_done[k].set_result(None)
        self.gradient_done[1 - k].result()

    def fail(self, k, exc):
        """Part ``k`` failed with ``exc``: the other part raises it instead of waiting."""
        for future in ((self.inputs,) if k == self.CALLER else ()) + (self.rows_done[k], self.gradient_done[k]):
            if not future.done():
                future.set_exception(exc)


def _distorted_job(image, gradient_ready, model, scores, workspace, shared=None):
    try:
        patches = _patches(image, model)
        if shared is not None:
            shared.part(shared.WORKER, model)
    except BaseException as exc:
        if shared is not None:
            shared.fail(shared.WORKER, exc)
        raise
    return _ranks(patches, gradient_ready, model, scores, workspace)


def pair_scores(reference, distorted, model, scores=SCORES):
    """``{score: value}`` of one pair of checked images, as :func:`reference_side`
    then :func:`distorted_scores` compute it, with the distorted image's side in a
    worker thread: it preprocesses its image (and ranks its activations) while this
    thread computes ``G`` -- or, for the gradient score alone, computes half of
    ``G`` (:class:`_SharedProducts`) -- then both threads project and rank their
    image's gradient features."""
    workspace, partner = workspaces()
    gradient_ready = Future()
    shared = _SharedProducts() if tuple(scores) == ("gradient",) else None
    job = _executor().submit(_distorted_job, distorted, gradient_ready, model, scores, partner, shared)
    try:
        patches = _patches(reference, model)
        if shared is not None:
            activations, G = shared.compute(patches, model, workspace)
            gradient = _gradient_side(patches, activations, model, G)
        else:
            activations = _activations(patches, model, workspace)
            gradient = _gradient_side(patches, activations, model) if "gradient" in scores else None
    except BaseException as exc:
        gradient_ready.set_exception(exc)    # the worker stops waiting
        if shared is not None:
            shared.fail(shared.CALLER, exc)
        wait([job])                          # it may still write into this thread's workspace
        raise
    gradient_ready.set_result(gradient)
    ranks = _ranks(patches, gradient, model, scores, workspace, activations)
    other = job.result()
    return {name: _rank_score(ranks[name], other[name]) for name in scores}
