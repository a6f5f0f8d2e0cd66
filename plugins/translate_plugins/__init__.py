"""The built-in plugins of translate. Each sub-package is an ordinary plugin registered through the
``translate.plugins`` entry-point group, exactly as a third-party package would be."""
