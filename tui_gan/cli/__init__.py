"""The `tui-gan` command line: `main` in `tui_gan.cli.main`, one module per subcommand."""
