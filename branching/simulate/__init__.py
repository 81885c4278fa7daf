"""Synthetic audiences: seeded playthroughs through the real engine, recorded through the store.

A producer needs numbers before the first viewer arrives (to rehearse the
dashboard, to size the database, to see whether a choice is lopsided).
`simulate` plays sessions with the real `Playthrough`, and records each one
as the player's `StoreRecorder` does (the same events and ops, from the same
`ops.event_op` and state chain; a test compares them), stamped with a
simulated clock and seeded ids, without the locks and futures a live player
needs; the store's bulk path writes them (same schema, same running totals). Every
simulated session is marked as such, and the analytics can leave them out.

- `audience.py`: what an audience is (sizes, behaviour, attribute shares, dates);
- `personas.py`: persona files (weights by choice id or tag, mixed by share);
- `pick.py`: how a simulated viewer picks a choice (random, least-used, default, persona);
- `sessions.py`: the simulated session (its recorder and writer) and the simulated clock;
- `run.py`: the loop over sessions, producing store ops in order.
"""
