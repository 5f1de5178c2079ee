"""The operations client: works against any Step Functions endpoint (AWS, or ``pipeline serve``).

It finds the stack by its outputs, lists and shows runs, redrives them, submits files through the
HTTP API and draws the definition. It never imports the emulator: what it does to a deployed stack
is exactly what it does to a local one.
"""
