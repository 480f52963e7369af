"""What every layer shares: config schemas, the CLI error handling, atomic files, thread settings."""
