"""What the capacity retrier must outlast (deploy review, finding 9), for the template's arithmetic
(``tests/infra/test_stack.py``) and the throttling run (``tests/workflow/test_throttling.py``)."""

# BURST_FILES uploads at once start that many runs, and the account runs at most CONCURRENCY
# functions at a time (a new account's quota).
BURST_FILES = 1_000
CONCURRENCY = 10
# Lambda time of one run. `pipeline cost` measured 75 ms of handler time over the 5 invocations of
# samples/orders.csv (README, Deploy, Cost); on AWS each invocation adds its S3 round trips (13 requests
# per run) and the invoke itself, and larger files take longer: budget 10 s per run, over 100 times that.
LAMBDA_SECONDS_PER_RUN = 10.0
