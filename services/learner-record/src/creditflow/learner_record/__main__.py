"""`creditflow-learner-record`: serve the API and consumers (`creditflow replay` rebuilds the records)."""

import sys

from creditflow.runtime.service import serve

from .app import HTTP_PORT, create_app


def main() -> None:
    # Proofs are checked in a worker thread that wants the GIL for seconds per batch; the event loop thread takes it
    # back within 1 ms instead of the default 5 ms at each step of a registrar request.
    sys.setswitchinterval(0.001)
    serve("learner-record", HTTP_PORT, create_app)


if __name__ == "__main__":
    main()
