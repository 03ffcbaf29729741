"""CURE-TSR out of the box: the authors' OOD protocol on a CURE-TSR folder, and
CURE-style benchmarks made from any folder of images.

* :func:`run_cure_protocol` runs Kwon et al.'s (ICIP 2019) OOD experiment on a
  folder in the authors' layout (``RealChallengeFree/{train,val,test}`` and
  ``RealChallenge/TT_LL/{train,val,test}``) and returns the poster's table with
  the poster's published numbers beside it (``skgrad ood --cure-tsr ROOT``).
* :func:`make_cure_challenges` writes that layout from any image folder, with
  the twelve challenge types of :mod:`skgrad.distortions` at five levels
  (``skgrad challenges --images DIR --out ROOT``).

Modules: ``_layout`` (folders and file names), ``_generate`` (the generator),
``_classifiers`` (the authors' MLP and a logistic regression), ``_protocol``
(the experiment), ``_poster`` (the published numbers).
"""
from ._generate import make_cure_challenges
from ._layout import LEVELS, TEST_TYPES, TRAIN_OUTLIER, CureTSRLayoutError
from ._poster import FEATURE_LABELS, FEATURE_SETS, POSTER_ACCURACY, POSTER_TYPES
from ._protocol import TABLE_METRICS, run_cure_protocol

__all__ = [
    "run_cure_protocol",
    "make_cure_challenges",
    "CureTSRLayoutError",
    "POSTER_ACCURACY",
    "POSTER_TYPES",
    "FEATURE_SETS",
    "FEATURE_LABELS",
    "TABLE_METRICS",
    "TEST_TYPES",
    "LEVELS",
    "TRAIN_OUTLIER",
]
