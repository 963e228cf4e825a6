"""prefect_defender.api.resources."""
