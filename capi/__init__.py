"""capi-relay: a self-hosted Meta Conversions API relay on Google Cloud."""

__version__ = "0.1.0"
PARTNER_AGENT = f"capi-relay-{__version__}"
