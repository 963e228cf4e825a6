"""prefect_defender.flows."""
