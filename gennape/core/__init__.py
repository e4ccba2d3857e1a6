"""Shared by every stage: the name registry, lazy package attributes and the project's paths."""
