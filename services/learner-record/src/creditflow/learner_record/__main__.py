"""`creditflow-learner-record`: serve the API and consumers (`creditflow replay` rebuilds the records)."""

from creditflow.runtime.service import serve

from .app import HTTP_PORT, create_app


def main() -> None:
    serve("learner-record", HTTP_PORT, create_app)


if __name__ == "__main__":
    main()
