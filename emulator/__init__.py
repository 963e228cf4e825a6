"""prefect_defender.emulator."""
