"""Helpers shared by tests of several features (drive real flows over HTTP)."""
