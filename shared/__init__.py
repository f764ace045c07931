"""Code every Folk møter folk service shares: contracts, messaging, persistence, HTTP plumbing."""
