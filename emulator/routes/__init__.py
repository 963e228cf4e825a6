"""prefect_defender.emulator.routes."""
