"""Conformance: the official uno-cli 1.0.7 and our bin/uno.py, side by side."""
