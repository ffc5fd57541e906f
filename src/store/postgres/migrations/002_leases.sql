-- Several servers on one database: leases live in the row. run_id fences off a
-- worker whose lease was taken over; owner is the server whose claim leased the
-- job (a store column only, cleared whenever the job leaves in_flight).
ALTER TABLE jobs
  ADD COLUMN run_id           TEXT,
  ADD COLUMN lease_expires_at BIGINT,
  ADD COLUMN owner            TEXT;

-- Jobs a server of an earlier version left in flight had their lease only in
-- that server's memory: give them one that has already run out, so the leader
-- makes them ready again.
UPDATE jobs SET lease_expires_at = coalesce(dequeued_at, 0) WHERE status = 'in_flight';

-- Claims take ready jobs in (priority, id) order, from some queues or from all.
CREATE INDEX jobs_ready_by_queue ON jobs (queue, priority, id) WHERE status = 'ready';
CREATE INDEX jobs_ready ON jobs (priority, id) WHERE status = 'ready';
-- The leader finds leases whose server is gone.
CREATE INDEX jobs_in_flight_by_lease ON jobs (lease_expires_at) WHERE status = 'in_flight';
