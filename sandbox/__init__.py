"""A local PagerDuty + Statuspage emulator with its state in memory, for tests, benchmarks
and the `make run` demo (launcher.py). It lives beside the pagerstatus package and never
ships with the function."""
