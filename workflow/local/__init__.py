"""The embedded local environment: the synthesized stack, run on moto with the real handlers."""
