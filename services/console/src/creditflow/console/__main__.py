import uvicorn
from creditflow.runtime.logging import configure_logging

from .app import HTTP_PORT, create_app
from .settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings.from_env(HTTP_PORT)
    configure_logging("console", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None,
                access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
