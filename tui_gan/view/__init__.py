"""What the app shows, computed without Textual: run state, metric history, plot data, text formats."""
