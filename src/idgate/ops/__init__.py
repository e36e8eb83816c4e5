"""Running idgate for real (issue 7): structured logs, worker processes, backups."""
