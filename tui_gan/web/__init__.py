"""The app over the network: `tui-gan serve` puts it in a web browser."""
