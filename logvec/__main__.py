"""`python -m logvec` is the `logvec` command (the workers of `logvec run --workers N` start this way)."""

from logvec.cli import main

if __name__ == "__main__":  # importing the module runs nothing
    main()
