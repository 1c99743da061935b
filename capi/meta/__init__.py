"""Meta's side of the contract: the rule book (rules), the caller body (body), one event's path
(contract: enrich, validate, prepare), normalization and hashing, click ids, Meta's answers and
the Graph client. Imports nothing above it."""
