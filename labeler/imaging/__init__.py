"""Image files: finding them, reading their headers, decoding their pixels, and the one
EXIF-orientation rule (files.py). Below the store: the store's orientation upgrade and every
layer above it read images through here. No Qt, no torch."""

from .files import (
    IMAGE_EXTENSIONS, PIXEL_RULE, ImageInfo, ImageReadError, apply_orientation, decode_image,
    find_images, orient_point, oriented_size, read_image_info, scan_images,
)

__all__ = [
    "IMAGE_EXTENSIONS", "PIXEL_RULE", "ImageInfo", "ImageReadError", "apply_orientation",
    "decode_image", "find_images", "orient_point", "oriented_size", "read_image_info", "scan_images",
]
