"""Data: image files, built-in datasets, augmentation and the resumable sampler."""
