"""Synthetic audiences: seeded playthroughs through the real engine, recorded through the store.

A producer needs numbers before the first viewer arrives (to rehearse the
dashboard, to size the database, to see whether a choice is lopsided).
`simulate` plays sessions with the real `Playthrough` and the real
`StoreRecorder`, so the events are exactly those a player would record; a
stand-in session handle stamps them with a simulated clock and seeded ids, and
the store's bulk path writes them (same schema, same running totals). Every
simulated session is marked as such, and the analytics can leave them out.

- `audience.py`: what an audience is (sizes, behaviour, attribute shares, dates);
- `personas.py`: persona files (weights by choice id or tag, mixed by share);
- `pick.py`: how a simulated viewer picks a choice (random, least-used, default, persona);
- `sessions.py`: the stand-in session handle and the simulated clock;
- `run.py`: the loop over sessions, producing store ops in order.
"""
