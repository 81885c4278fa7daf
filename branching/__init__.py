"""branching: choose-your-path stories in the terminal, and what viewers chose.

This module holds only the version, so importing the package stays cheap.
"""

__version__ = "0.1.0"
