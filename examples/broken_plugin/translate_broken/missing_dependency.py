"""Fails on import, as a plugin with a missing dependency would."""

raise ImportError("translate_broken needs the package 'not-installed-dependency'")
