-- Each server's open take streams and their workers' reports (GET /workers), as JSON text, rewritten every
-- maintenance tick and dropped when the server stops; a row not rewritten for a while is a server that died.
CREATE TABLE worker_registry (
  server     TEXT COLLATE "C" PRIMARY KEY,
  workers    TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
