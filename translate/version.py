"""The toolkit's version, in a module of its own: checkpoints record it, and reading it must not
import the package's API."""

__version__ = "0.1.0"
