"""Command line: python -m acs_emulator [--host H] [--port P] [--tls] [--state FILE] [--key B64]."""

from __future__ import annotations

import argparse
import sys

from .entra_demo import TENANT_ID
from .server import ServerHandle, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m acs_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8791, help="0 picks a free port")
    parser.add_argument("--tls", action="store_true", help="serve https with a generated CA")
    parser.add_argument("--state", default=None, help="SQLite file for state (default: memory)")
    parser.add_argument("--key", default=None, help="base64 access key (default: random)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    def ready(handle: ServerHandle) -> None:
        print(f"ACS_CONNECTION_STRING={handle.connection_string}", flush=True)
        if handle.ca_bundle:
            print(f"ACS_CA_BUNDLE={handle.ca_bundle}", flush=True)
        print(f"Serving the ACS emulator on {handle.url}", file=sys.stderr, flush=True)
        print(
            f"Its local Entra ID (OIDC issuer): {handle.url}{TENANT_ID}/v2.0",
            file=sys.stderr,
            flush=True,
        )

    serve(args.host, args.port, args.tls, args.state, args.key, ready, quiet=args.quiet)


if __name__ == "__main__":
    main()
