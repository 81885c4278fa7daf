"""Self-contained widgets of the player: scene text, numbered list, countdown, key bar,
notice bar."""

from branching.tui.player.widgets.countdown import Countdown
from branching.tui.player.widgets.keybar import KeyBar, KeyHint
from branching.tui.player.widgets.notice import NoticeBar
from branching.tui.player.widgets.numbered import Item, NumberedList
from branching.tui.player.widgets.scene_text import SceneText

__all__ = ["Countdown", "Item", "KeyBar", "KeyHint", "NoticeBar", "NumberedList", "SceneText"]
