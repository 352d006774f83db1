"""Observing jobctl: event logs (and later metrics, health and hooks)."""
