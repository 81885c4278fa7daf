"""The safe expression language of stories: values and types, syntax, the
compiler to closures, and `conditions`, its public API. Never `eval`.

The bottom of the package: it imports nothing else from branching.
"""
