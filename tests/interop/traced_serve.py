"""``bridgehead serve`` that notes which path answered each request.

``python -m tests.interop.traced_serve TRACE_FILE serve [ARGS…]`` runs the real command line
(``bridgehead.cli``) in this process, after ``record_handling`` (tests/interop/paths.py), and
appends one JSON line per handled request to TRACE_FILE as the request is handled.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.interop.paths import Handled, record_handling


def main() -> None:
    from bridgehead.cli import main as bridgehead

    with Path(sys.argv.pop(1)).open("a", buffering=1, encoding="utf-8") as trace:  # line-buffered

        def write(handled: Handled) -> None:
            trace.write(handled.to_json() + "\n")

        record_handling(write)
        sys.argv[0] = "bridgehead"
        bridgehead()


if __name__ == "__main__":
    main()
