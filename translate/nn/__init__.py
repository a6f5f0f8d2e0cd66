"""Building blocks shared by several model families: ``layers`` (norms by name, N(0, 0.02)
initialisation, spectral norm), ``patchgan`` (the PatchGAN discriminator), ``padding`` and
``resize`` (exportable padding and bicubic upscaling), ``state`` (state-dict helpers), ``guided``
(a generator's output as a local affine colour map of its input)."""
