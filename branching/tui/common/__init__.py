"""What the player and the dashboard share: literal story text as Textual
content, and the clock both read.
"""
