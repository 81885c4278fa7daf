"""Each scene's unique viewers on SQLite, from the digests instead of the events.

Every `stats` report names its scenes and how many reached each (the reach,
which the other tables divide by), so counting unique viewers used to read
every `scene_shown` event of the chosen sessions: at ten million events about
forty seconds, for any table. The store keeps what this needs: each session's
digest lists the scenes it was shown (`shown`, `store/digests.py`), and the
aggregates hold how many times each scene was shown in every class of
sessions (`agg_scenes.views`). So the chosen sessions are read with their
digests in viewer order, each viewer's scenes are the union of their
sessions' (a viewer counts once per scene), and the times shown are summed
from the aggregates, the figures the scan gives (`metrics.scene_counts`).

When the aggregates are not split by the selection (`rollup.answerable`: a
time of day, several `--where`, a key with too many values) the times shown
cannot be summed, and the events are read as before (None).
"""

from __future__ import annotations

from collections import Counter

from branching.analytics.filters import Filters
from branching.analytics.rollup import answerable, class_where
from branching.analytics.source import Version
from branching.analytics.stats_rollup import Digested
from branching.store.digests import names


def viewer_reach(
    d: Digested, story_id: str, chosen: list[Version], filters: Filters
) -> dict[str, tuple[int, int]] | None:
    """scene -> (unique viewers shown it, times it was shown), or None (read the events)."""
    if d.unit != "viewers" or not answerable(d.conn, story_id, filters)[0]:
        return None
    where, params = class_where(story_id, chosen, filters)
    views = {
        str(scene): int(n)
        for scene, n in d.conn.execute(
            f"""SELECT scene, SUM(views) FROM agg_scenes WHERE {where}
            GROUP BY 1 HAVING SUM(views) > 0""",
            params,
        )
    }
    seen: Counter[str] = Counter()
    viewer: object = None
    scenes: set[str] = set()
    for who, shown in d.conn.execute(
        f"""SELECT s.viewer_id, d.shown FROM {d.sessions}
        JOIN session_digests d ON d.session_id = s.session_id
        WHERE {d.cond} ORDER BY s.viewer_id""",
        d.params,
    ):
        if who != viewer:
            seen.update(scenes)
            viewer, scenes = who, set()
        if len(shown) > 2:  # "[]": shown nothing
            scenes.update(shown[1:-1].split(","))
    seen.update(scenes)
    book = names(d.conn)
    reached = {book[int(code)]: n for code, n in seen.items()}
    return {scene: (reached.get(scene, 0), n) for scene, n in views.items()}
