from creditflow.runtime.service import serve

from .app import HTTP_PORT, create_app


def main() -> None:
    serve("issuer", HTTP_PORT, create_app)


if __name__ == "__main__":
    main()
