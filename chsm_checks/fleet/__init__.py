"""Fleet audits: every Cloud HSM cluster in every subscription, each with the resources it backs up to."""
