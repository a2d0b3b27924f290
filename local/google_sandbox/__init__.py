"""Local stand-in for Google's OAuth 2.0 and Calendar v3 endpoints.

Production code talks to it through the real Google client libraries with only
the endpoint URLs changed. See README.md in this folder.
"""
from .app import SandboxApp, SandboxServer, create_app, serve
from .config import SandboxConfig

__all__ = ["SandboxApp", "SandboxConfig", "SandboxServer", "create_app", "serve"]
