"""Dispatch: routing, claims, the console's API and live event feed."""
