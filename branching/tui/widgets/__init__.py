"""Self-contained widgets of the player: scene text, numbered list, countdown, key bar."""

from branching.tui.widgets.countdown import Countdown
from branching.tui.widgets.keybar import KeyBar, KeyHint
from branching.tui.widgets.numbered import Item, NumberedList
from branching.tui.widgets.scene_text import SceneText

__all__ = ["Countdown", "Item", "KeyBar", "KeyHint", "NumberedList", "SceneText"]
