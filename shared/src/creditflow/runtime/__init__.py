"""Plumbing every creditflow service shares: settings, logging, Kafka, MongoDB, HTTP problems."""
