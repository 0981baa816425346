"""The auditor console (issue 15): server-rendered pages at ``/console``, local accounts, misuse alerts."""
