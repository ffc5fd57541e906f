-- Leases live in the row: run_id fences off a worker whose lease was taken
-- over; owner is the server whose claim leased the job (a store column only,
-- cleared whenever the job leaves in_flight).
ALTER TABLE jobs ADD COLUMN run_id TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE jobs ADD COLUMN owner TEXT;

-- Claims take ready jobs in (priority, id) order, from some queues or from all.
CREATE INDEX jobs_ready_by_queue ON jobs (queue, priority, id) WHERE status = 'ready';
CREATE INDEX jobs_ready ON jobs (priority, id) WHERE status = 'ready';
CREATE INDEX jobs_in_flight_by_lease ON jobs (lease_expires_at) WHERE status = 'in_flight';
