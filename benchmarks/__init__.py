"""The transform benchmark: generated inputs (``data``) and the timing harness (``transform``)."""
