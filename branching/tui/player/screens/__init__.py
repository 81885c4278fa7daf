"""The player's screens: player, ending, library, help, and the yes/no questions.

Each screen owns its handlers; `keys` holds the bindings they share.
"""
