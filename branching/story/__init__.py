"""The story format and its loading: YAML reading, the spec tables, the JSON
Schema, the loader and builder, and the frozen model every other part reads.

Headless: imports no UI or storage library (see the architecture test).
"""
