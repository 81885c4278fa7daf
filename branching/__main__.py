"""`python -m branching`: the same entry point as the `branching` script."""

from branching.cli import run

if __name__ == "__main__":
    run()
