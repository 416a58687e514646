"""Coverage-guided fuzzing of every parser that reads bytes from outside the hub (atheris).

Not shipped: the package lives next to ``tests/``. :mod:`fuzz.targets` holds the entry
functions, :mod:`fuzz.seeds` the seed corpus, ``fuzz/crashers/TARGET/`` the inputs that once
crashed a parser (replayed by ``tests/test_fuzz_inputs.py``); ``python -m fuzz run`` fuzzes.
"""
