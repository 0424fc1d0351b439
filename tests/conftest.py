import pytest
from e2e_driver import Driver


_caught_up: list[bool] = []


@pytest.fixture
async def driver(running_stack):
    driver = Driver(running_stack)
    if not _caught_up:  # once per session, after the stack started
        await driver.caught_up()
        _caught_up.append(True)
    yield driver
    await driver.close()
