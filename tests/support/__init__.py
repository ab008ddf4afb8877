"""The suite's support code (never shipped in the wheel): registries with a version of every architecture, and a
real uvicorn serving them on a loopback port.

    from tests.support.registry import make_registry     # the checkout's root is on the suite's sys.path
    from tests.support.server import start_server
"""
