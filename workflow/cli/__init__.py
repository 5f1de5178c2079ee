"""The ``pipeline`` command: thin handlers over the emulator (``local/``), the operations client
(``ops/``) and the cost model (``cost/``); what a person reads is drawn in ``text.py``."""
