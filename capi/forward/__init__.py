"""The forward function: one queued event to Meta; ack, retry or dead-letter. Never imports
capi.ingest.handler."""
