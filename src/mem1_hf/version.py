"""The package version (a module of its own, so the data layer can name it without importing the package)."""

__version__ = "0.1.0"
