"""Everything Textual: `common/` (text, clock) shared by `player/` (the
full-screen player and its library) and `dashboard/` (the producer's view).

Only this package imports textual. `player.launch` is the composition root the
CLI calls; `player.app.build_app` is the factory shared by the CLI, Pilot
tests, snapshot tests and benchmarks. Screens own their handlers; widgets are
self-contained; CSS lives in `.tcss` files beside the apps.
"""
