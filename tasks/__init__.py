"""The pipeline's Lambda steps: one package per step, each a thin handler over pure logic."""
