"""Full screens of the app: the dashboard and the checkpoint browser."""
