"""`python -m cilab` is the same as the `cilab` command."""

from cilab.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
