"""TaxiConnect hub: domain model, storage, queue, ingest and the application."""
