"""`python -m neuropc` runs the CLI (the bench scripts use it to train in subprocesses)."""

from neuropc.cli import main

main()
