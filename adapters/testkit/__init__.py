"""Simulated agencies (real HTTP servers), the synthetic population they serve, and helpers for tests."""
