"""The ingest function: the HTTP door (routes, auth, CORS, body), webhooks, consent and pixels;
every way in ends in `handler.Ingest.accept`. Never imports capi.forward.forwarder."""
