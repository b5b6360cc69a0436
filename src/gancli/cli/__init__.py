"""The `gan` command line: one module per command, parsing and rendering only."""
