-- Queue settings (PATCH /queues/{queue}): a row per queue that has any. `paused` and `max_in_flight` are columns
-- of their own because every server's claim reads them (a paused queue is skipped by the claim statements themselves,
-- so a pause holds across servers); the rest of the settings are JSON text.
CREATE TABLE queue_settings (
  queue    TEXT COLLATE "C" PRIMARY KEY,
  paused   BOOLEAN NOT NULL DEFAULT false,
  max_in_flight INTEGER,
  settings TEXT NOT NULL DEFAULT '{}'
);
