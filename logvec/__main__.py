"""`python -m logvec` is the `logvec` command (the workers of `logvec run --workers N` start this way)."""

from logvec.cli import main

if __name__ == "__main__":  # not when a worker process of the text stages imports it as `__mp_main__`
    main()
