"""Benchmarks for the portal and its ACS emulator."""
