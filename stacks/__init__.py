"""The CDK stack, composed of one construct per concern."""
