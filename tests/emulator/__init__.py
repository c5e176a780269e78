"""Tests for the ACS emulator package."""
