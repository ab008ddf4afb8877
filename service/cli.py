"""Entry point of the `temporal-order` console script: the offline commands plus serve and the SDK ones.

    temporal-order serve --host 127.0.0.1 --port 8000

`training.cli` holds the offline commands; this module adds the service's and the SDK's.
"""

from __future__ import annotations

from service import cli_client, cli_serve
from training.cli import app

cli_serve.register(app)
cli_client.register(app)


def main() -> None:
    app()
