"""An HTTPS emulator of Entra ID and the Defender XDR, Defender for Endpoint and Graph security
APIs, written from Microsoft's documented contract (it imports nothing from the client side).

See docs/emulator.md.
"""

from prefect_defender.emulator.server import EmulatorProcess, EmulatorServer

__all__ = ["EmulatorProcess", "EmulatorServer"]
