"""The composition root: the app that builds and wires everything, and the CLI commands."""
