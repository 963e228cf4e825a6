"""prefect_defender.deployments."""
