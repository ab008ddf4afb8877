"""The online side: the FastAPI service, its CLI commands and the SDK (service.client)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("temporal-order")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
