"""Mail flow: what the mail servers' logs and bounces say, in plain data."""
