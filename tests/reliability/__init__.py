"""The attack suite that keeps issue #10 fixed (see the README's "Reliability" section).

Every test here attacks the real program the way faults and hostile input
arrive in use: the CLI in subprocesses, the store API from several processes,
real signals, a real full disk, real read-only files, a real headless browser.
Each records the figure it proves with the `figure` fixture (conftest.py);
the figures are printed at the end of every pytest run and
`python -m tests.reliability.figures --write` puts the latest into the README.
"""
