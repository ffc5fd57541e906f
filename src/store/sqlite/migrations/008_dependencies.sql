-- Dependencies: each job keeps the ids it waits for (JSON text), and an edge per dependency that has
-- not completed yet. A job is blocked while it has edges; the edges of a dependency go when it
-- completes, dies or is deleted (src/store/dependencies.ts), in the transaction that ends it.
ALTER TABLE jobs ADD COLUMN dependencies TEXT;

CREATE TABLE job_dependencies (
  depends_on TEXT NOT NULL,
  job_id     TEXT NOT NULL,
  PRIMARY KEY (depends_on, job_id)
) WITHOUT ROWID;
CREATE INDEX job_dependencies_by_job ON job_dependencies (job_id);
