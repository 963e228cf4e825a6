"""prefect_defender.cli."""
