-- Signed jobs (src/job/signature.ts): the producer's ed25519 signature, base64, and the ready_at it covers (as the
-- producer sent it; ready_at itself moves with retries). Both null for unsigned jobs, as every job before this was.
ALTER TABLE jobs ADD COLUMN signature TEXT;
ALTER TABLE jobs ADD COLUMN signed_ready_at BIGINT;
