"""Start the test servers by hand (the test suite starts its own): Kafka-protocol brokers Tansu and noida-db
on free loopback ports, and the osmem-server OpenSearch emulator. Prints their addresses as shell exports;
Ctrl-C stops them (by PID).

    .venv/bin/python scripts/services.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import start_kafka, start_osmem  # noqa: E402


def main() -> None:
    servers = {"KAFKA_TANSU": start_kafka("tansu"), "KAFKA_NOIDA": start_kafka("noida"), "OSMEM": start_osmem()}
    for name, s in servers.items():
        print(f"export {name}={s.address}    # pid {s.proc.pid}, log {s.workdir}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    main()
