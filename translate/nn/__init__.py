"""Building blocks shared by several model families (PatchGAN, norms, initialisation)."""
