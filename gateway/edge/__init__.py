"""Agency edge nodes (docs/federation.md): an adapter run inside the agency's network behind the envelope,
answering only the hub, attesting the facts it returns with the agency's key, logging every query in its own
RFC 9162 audit log; and the hub's side, a source the broker treats like any in-process adapter."""
