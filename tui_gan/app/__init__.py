"""The Textual app: the App, its screens, dialogs and widgets, and the sessions it talks to a run through."""
