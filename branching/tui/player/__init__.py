"""The full-screen player: the app, its screens and widgets, the library of
stories, and `launch`, what `branching play` calls.
"""
