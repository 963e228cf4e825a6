"""``python -m prefect_defender.emulator serve --port 0 --data-dir DIR [--config FILE]
[--retire xdr]``."""

from __future__ import annotations

import argparse

from prefect_defender.emulator.retirement import RETIRABLE
from prefect_defender.emulator.server import serve


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m prefect_defender.emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the emulator on 127.0.0.1")
    s.add_argument(
        "--port", type=int, default=None, help="default: the port DATA_DIR had, else a free one"
    )
    s.add_argument("--data-dir", default=".emulator")
    s.add_argument("--config", default=None)
    s.add_argument(
        "--retire",
        action="append",
        default=[],
        choices=RETIRABLE,
        help="answer every endpoint of this surface as a retired API (repeatable)",
    )
    args = parser.parse_args()
    serve(args.port, args.data_dir, args.config, args.retire)


if __name__ == "__main__":
    main()
