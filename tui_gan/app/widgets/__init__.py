"""Widgets of the app: plots, the sample picture, progress, header and the alerts log."""
