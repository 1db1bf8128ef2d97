"""What every domain package shares: configuration, errors, logging, database lifecycle,
the home page."""
