import pytest
from e2e_driver import Driver


@pytest.fixture
async def driver(running_stack):
    driver = Driver(running_stack)
    yield driver
    await driver.close()
