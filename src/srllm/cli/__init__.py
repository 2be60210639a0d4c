"""Command-line shells over the library API; no logic beyond argument handling."""
