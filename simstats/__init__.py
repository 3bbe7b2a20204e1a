"""simstats."""
