"""Modal dialogs of the app; each ends in `dismiss(value)`."""
