"""The state machine definition, the local runtime that executes it, and the ``pipeline`` command."""
