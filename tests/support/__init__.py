"""Helpers shared by test modules (real external services, wire helpers)."""
