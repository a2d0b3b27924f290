"""python -m local.google_sandbox --host 127.0.0.1 --port 8765"""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from .app import serve
from .config import SandboxConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.google_sandbox",
                                     description="Google OAuth + Calendar v3 sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--client-id", help="OAuth client id (env SANDBOX_OAUTH_CLIENT_ID)")
    parser.add_argument("--client-secret", help="OAuth client secret (env SANDBOX_OAUTH_CLIENT_SECRET)")
    parser.add_argument("--access-token-ttl", type=int, default=None, help="seconds (default 3600)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = SandboxConfig()
    if args.access_token_ttl:
        config.access_token_ttl_seconds = args.access_token_ttl
    handle = serve(args.host, args.port, config, client_id=args.client_id, client_secret=args.client_secret,
                   verbose=args.verbose)
    print(f"google-sandbox listening on {handle.url}", flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        handle.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
