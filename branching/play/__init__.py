"""Playing a story with no UI: the pure engine, checked restoring of saves, the
recorder protocol players talk to, the UI-free stepper the full-screen player
drives, and the line-mode player.
"""
