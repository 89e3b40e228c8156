"""labeler: instance-segmentation labeling with a model that learns while you label."""

__version__ = "0.1.0"
