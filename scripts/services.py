"""Start the test servers by hand (the test suite starts its own): Kafka-protocol brokers Tansu and noida-db
on free loopback ports, and the osmem-server OpenSearch emulator. Prints their addresses as shell exports;
Ctrl-C stops them (by PID).

    .venv/bin/python scripts/services.py      # the same as: .venv/bin/python -m logvec.testing.servers
"""

from logvec.testing.servers import main

if __name__ == "__main__":
    main()
