-- Queue settings (PATCH /queues/{queue}): a row per queue that has any. `paused` is a column of its own
-- because claims read it; the rest of the settings are JSON text.
CREATE TABLE queue_settings (
  queue    TEXT PRIMARY KEY,
  paused   INTEGER NOT NULL DEFAULT 0,
  settings TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
