"""Scrolling the story column from the keyboard, and knowing what the viewer has seen.

Shared by the player and ending screens. The story column (`#story`) holds
the passage text (and, on the ending screen, the ending card); the choices sit
below it and keep the focus. `StoryScrolling` gives both screens the
`scroll_story` action behind PageUp/PageDown/Home/End, says whether the
column has more than fits (for the key bar) and whether the viewer has had the
end of it on screen (for the countdown, which waits until then).
"""

from __future__ import annotations

from typing import TypeVar

from textual.containers import VerticalScroll
from textual.screen import Screen

from branching.tui.player.widgets import KeyHint, SceneText

ResultType = TypeVar("ResultType")


class StoryScrolling(Screen[ResultType]):
    """A screen whose `#story` column scrolls under the paging keys."""

    def story_column(self) -> VerticalScroll:
        return self.query_one("#story", VerticalScroll)

    def action_scroll_story(self, where: str) -> None:
        """Scroll the story; a text still being revealed is completed first."""
        text = self.query_one(SceneText)
        if text.revealing:
            text.complete()
        story = self.story_column()
        match where:
            case "page_up":
                story.scroll_relative(y=-self._page(story), animate=False)
            case "page_down":
                story.scroll_relative(y=self._page(story), animate=False)
            case "home":
                story.scroll_home(animate=False)
            case "end":
                story.scroll_end(animate=False)

    @staticmethod
    def _page(story: VerticalScroll) -> int:
        """A page, less two lines kept on screen so the reader does not lose the thread."""
        return max(1, story.scrollable_content_region.height - 2)

    def story_overflows(self) -> bool:
        """More story than fits: the paging keys have something to do."""
        return self.story_column().max_scroll_y > 0

    def story_end_seen(self) -> bool:
        """The bottom of the story column is on screen now."""
        story = self.story_column()
        return story.scroll_y >= story.max_scroll_y - 0.5

    def scroll_hint(self) -> list[KeyHint]:
        """The key bar's scroll hint: shown only when there is something to scroll to."""
        if not self.story_overflows():
            return []
        more = "▼" if not self.story_end_seen() else "▲"
        return [KeyHint("PgUp/PgDn", f"Scroll {more}", "pagedown" if more == "▼" else "pageup")]
