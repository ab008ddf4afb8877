"""Issue 14, item 4: the registry's SQLite file deleted or replaced under a running service. Readiness says
so (503 with the reason), and a training job refuses to start rather than create a fresh, empty file."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.support.registry import make_registry
from tests.support.server import start_server
from training.registry import Registry, RegistryMissing


def test_a_replaced_then_deleted_registry_fails_readiness_and_jobs(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    server = start_server(make_registry(path, arches=("lstm",)), tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30, headers=server.auth) as client:
            assert client.get("/readyz").status_code == 200

            # Replaced: a copy under the same name is another file (a restore, a deploy gone wrong).
            shutil.copy(path, tmp_path / "copy.db")
            (tmp_path / "copy.db").replace(path)
            replaced = client.get("/readyz")
            assert replaced.status_code == 503 and not replaced.json()["registry"]
            assert "replaced" in replaced.json()["detail"]["registry"]

            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            deleted = client.get("/readyz")
            assert deleted.status_code == 503 and "deleted" in deleted.json()["detail"]["registry"]

            refused = client.post("/train", json={"arch": "lstm", "trials": 1, "max_sequences": 100})
            assert refused.status_code == 503 and "deleted" in refused.json()["message"], refused.text
            for read in ("/models", "/train", "/metrics"):  # served from what is open, or a 503; never a 500
                assert client.get(read).status_code in (200, 503)
            assert not path.exists(), "a fresh registry file was created"
    finally:
        server.stop()


def test_a_job_process_refuses_a_missing_registry_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    try:
        Registry(f"sqlite:///{path}", must_exist=True)
    except RegistryMissing as error:
        assert "does not exist" in str(error)
    else:
        raise AssertionError("a missing registry file was accepted")
    assert not path.exists()
