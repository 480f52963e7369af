"""What the entry points share: launch, preflight checks, one-line errors."""
