"""Evaluation metrics shared by plugins (each module imports only what it needs)."""
