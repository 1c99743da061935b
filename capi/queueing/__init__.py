"""Queue messages and the Pub/Sub publisher: what ingest hands to forward."""
