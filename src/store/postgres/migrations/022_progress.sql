-- What a job's last heartbeat said of its progress (JSON text; src/job/types.ts progress): null until one does.
ALTER TABLE jobs ADD COLUMN progress TEXT;
