"""IAM for the local runtime: AWS's policy evaluation, the requests the pipeline's calls make,
and the policies the synthesized template defines (see notes/iam.md for how they plug in)."""
