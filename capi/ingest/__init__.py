"""The ingest function: the HTTP door (routes, auth, CORS, body), webhooks, consent and pixels;
every way in ends in `intake.Intake.accept`. Never imports capi.forward.forwarder."""
