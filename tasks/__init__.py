"""prefect_defender.tasks."""
