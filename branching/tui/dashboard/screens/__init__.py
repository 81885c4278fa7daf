"""The dashboard's screens: the story list, one story's tabs, and the filter and help dialogs."""
