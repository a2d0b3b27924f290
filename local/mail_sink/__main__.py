"""python -m local.mail_sink --host 127.0.0.1 --port PORT [--api-key KEY] [--store-dir DIR]"""

from __future__ import annotations

import argparse
import signal
import sys

from .app import create_app, make_sink_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m local.mail_sink",
        description="Local stand-in for SendGrid's v3 Mail Send API, with an outbox to inspect.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--api-key", help="accepted API key (default: $MAIL_SINK_API_KEY, "
                                          "else SG.local-sandbox-key)")
    parser.add_argument("--store-dir", help="keep messages as JSON files here across restarts "
                                            "(default: memory only)")
    args = parser.parse_args(argv)

    server = make_sink_server(args.host, args.port, create_app(args.api_key, args.store_dir))
    # Stop cleanly on SIGTERM too (the stack runner's stop), freeing the port at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"mail-sink listening on http://{args.host}:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
