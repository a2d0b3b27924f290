"""A local stand-in for SendGrid's v3 Mail Send API that keeps what it is sent.

Run `python -m local.mail_sink --port PORT`, or `serve()` in-process; see README.md.
"""

from .app import SinkServer, create_app, serve

__all__ = ["SinkServer", "create_app", "serve"]
