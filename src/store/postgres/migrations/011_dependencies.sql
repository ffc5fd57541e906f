-- Dependencies: each job keeps the ids it waits for (JSON text), and an edge per dependency that has
-- not completed yet. A job is blocked while it has edges; the edges of a dependency go when it
-- completes, dies or is deleted (src/store/dependencies.ts), in the transaction that ends it.
-- has_dependents marks a job that some job waits for (or did): the fast, single-statement ends of a
-- job skip such rows, and the store ends them in a transaction that settles their dependents.
ALTER TABLE jobs
  ADD COLUMN dependencies TEXT,
  ADD COLUMN has_dependents BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE job_dependencies (
  depends_on TEXT COLLATE "C" NOT NULL,
  job_id     TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (depends_on, job_id)
);
CREATE INDEX job_dependencies_by_job ON job_dependencies (job_id);
