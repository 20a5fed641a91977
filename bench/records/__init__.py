"""The records: the spec and its policies (schedules), the run directory, which runs are one experiment, numerics versions."""
