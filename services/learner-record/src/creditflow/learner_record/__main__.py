"""`creditflow-learner-record`: serve the API and consumers; `creditflow-learner-record replay`: rebuild records."""

import sys

from creditflow.runtime.service import serve

from .app import HTTP_PORT, create_app


def main() -> None:
    if sys.argv[1:2] == ["replay"]:
        from .replay import main as replay

        sys.exit(replay(sys.argv[1:]))
    serve("learner-record", HTTP_PORT, create_app)


if __name__ == "__main__":
    main()
