"""Means testing: the verification request, household composition, indicators, the report and its flow."""
