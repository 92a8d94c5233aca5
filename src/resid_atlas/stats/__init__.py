"""Shared statistics: the KDE, bootstrap intervals and the findings schema with its verdict
rules."""
