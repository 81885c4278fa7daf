"""What each schema step makes and drops, by name and kind: generated, do not edit.

`migrations.check_ours` reads this at every open instead of replaying the
steps; regenerate it with `python -m branching.store.migrations` after
adding a step (tests/test_store_migrations.py proves it equals the replay).
"""

STEPS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "m001_raw_tables": (
        {
            "stories": "table",
            "sessions": "table",
            "session_attrs": "table",
            "events": "table",
        },
        (),
    ),
    "m002_running_totals": (
        {
            "traversals": "table",
            "pruned_traversals": "table",
            "scene_views": "table",
            "pruned_scene_views": "table",
        },
        (),
    ),
    "m003_views": (
        {
            "choice_shares": "view",
            "sessions_per_ending": "view",
            "scene_dropoff": "view",
        },
        (),
    ),
    "m004_session_end_totals": (
        {
            "session_ends": "table",
        },
        (),
    ),
    "m005_viewer_keys": (
        {
            "viewer_keys": "table",
        },
        (),
    ),
    "m006_forgotten_sessions": (
        {
            "forgotten_sessions": "table",
        },
        (),
    ),
    "m007_small_events": (
        {
            "events": "table",
        },
        (),
    ),
    "m008_simulated_sessions": (
        {
            "sessions": "table",
        },
        (),
    ),
    "m009_rendered_labels": (
        {
            "events": "table",
            "choice_labels": "table",
        },
        (),
    ),
    "m010_one_unit_views": (
        {
            "choice_shares": "view",
            "choice_sessions": "view",
            "scene_dropoff": "view",
        },
        (),
    ),
    "m011_aggregates": (
        {
            "agg_edges": "table",
            "agg_scenes": "table",
            "agg_sessions": "table",
            "agg_firsts": "table",
            "agg_attr_keys": "table",
            "agg_attr_values": "table",
            "story_activity": "table",
        },
        (),
    ),
    "m012_session_digests": (
        {
            "session_digests": "table",
            "digest_names": "table",
        },
        (),
    ),
    "m013_decide_and_acts": (
        {
            "agg_decide": "table",
            "agg_acts": "table",
        },
        (),
    ),
    "m014_packed_decide": (
        {
            "agg_decide": "table",
        },
        (),
    ),
    "m015_digests_carry_their_session": (
        {
            "session_digests": "table",
            "session_digests_copy_session": "trigger",
            "session_attrs_insert_copy": "trigger",
            "session_attrs_update_copy": "trigger",
            "session_attrs_delete_copy": "trigger",
            "sessions_copy_to_digest": "trigger",
            "agg_firsts_flag_added": "trigger",
            "agg_firsts_flag_moved": "trigger",
            "agg_firsts_flag_gone": "trigger",
        },
        (),
    ),
    "m016_digests_carry_their_viewer_and_acts": (
        {
            "session_digests": "table",
            "session_digests_copy_viewer": "trigger",
            "sessions_viewer_to_digest": "trigger",
        },
        (),
    ),
    "m017_no_last_scene_index": (
        {},
        (),
    ),
    "m018_digests_carry_their_edges": (
        {
            "session_digests": "table",
            "session_digests_copy_last_scene": "trigger",
            "sessions_last_scene_to_digest": "trigger",
        },
        (),
    ),
    "m020_running_totals_from_the_aggregates": (
        {
            "traversals": "view",
            "scene_views": "view",
            "session_ends": "view",
            "agg_sessions_drop_spent": "trigger",
        },
        (),
    ),
    "m022_one_digest_write_per_key_press": (
        {
            "sessions_last_scene_to_digest": "trigger",
        },
        (),
    ),
}
