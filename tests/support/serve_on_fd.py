"""Run uvicorn on an inherited listening socket: what `tests.support.server.start_server` starts in a subprocess.

    python tests/support/serve_on_fd.py service.app:create_server_app FD factory

uvicorn's own --fd assumes a UNIX socket, so TCP_NODELAY would never be set and Nagle's algorithm would add 40 ms
to every response.
"""

from __future__ import annotations

import os
import socket
import sys

import uvicorn


def serve_on_fd(app: str, fd: int, kind: str) -> None:
    sock = socket.socket(fileno=fd)
    config = uvicorn.Config(
        app, factory=kind == "factory", log_level="warning", access_log=False, timeout_keep_alive=30
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    # As uvicorn's own command line does (--app-dir .): the app is looked up from the working directory.
    sys.path[0] = os.getcwd()
    serve_on_fd(sys.argv[1], int(sys.argv[2]), sys.argv[3])
