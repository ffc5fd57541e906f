-- Queue settings (PATCH /queues/{queue}): a row per queue that has any. `paused` and `max_in_flight` are columns
-- of their own because claims read them; the rest of the settings are JSON text.
CREATE TABLE queue_settings (
  queue    TEXT PRIMARY KEY,
  paused   INTEGER NOT NULL DEFAULT 0,
  max_in_flight INTEGER,
  settings TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
