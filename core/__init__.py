"""What every domain package shares: configuration, errors, logging, database lifecycle, the
clock, French text and its Jinja filters, the GeoJSON schema, security headers, spreadsheet
safety, the home page."""
