"""The full-screen Textual player (and its library of stories).

Only this package imports textual. `launch` is the composition root the CLI
calls; `app.build_app` is the factory shared by the CLI, Pilot tests, snapshot
tests and benchmarks. Screens own their handlers; widgets are self-contained;
CSS lives in the `.tcss` files beside this module.
"""
