"""Data sets: real images shipped with installed packages, the one image reader
(:func:`read_image`) and image-folder reader (:func:`list_images`,
:class:`ImageFolderArray`, :func:`load_image_folder`), and loaders for
user-downloaded IQA / OOD benchmarks (TID2013, MULTI-LIVE, KADID-10k, CURE-TSR).

Nothing here downloads anything.
"""
from ._folder import IMAGE_SUFFIXES, ImageFolderArray, check_images, list_images, load_image_folder
from ._builtin import center_crop_resize, load_digits_images, load_mnist5k, load_real_digits, load_sample_photos
from ._io import read_image, read_images
from .cure_tsr import CURE_TSR_CHALLENGES, is_cure_tsr_name, load_cure_tsr
from .kadid10k import load_kadid10k
from .live_multiply import load_live_multiply_distorted
from .tid2013 import TID2013_DISTORTIONS, load_tid2013

__all__ = [
    "load_digits_images",
    "load_mnist5k",
    "load_real_digits",
    "load_sample_photos",
    "center_crop_resize",
    "read_image",
    "read_images",
    "list_images",
    "check_images",
    "ImageFolderArray",
    "load_image_folder",
    "IMAGE_SUFFIXES",
    "load_tid2013",
    "TID2013_DISTORTIONS",
    "load_live_multiply_distorted",
    "load_kadid10k",
    "load_cure_tsr",
    "is_cure_tsr_name",
    "CURE_TSR_CHALLENGES",
]
