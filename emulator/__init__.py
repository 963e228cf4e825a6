"""An HTTPS emulator of Entra ID and the Defender XDR, Defender for Endpoint and Graph security
APIs, written from Microsoft's documented contract (it imports nothing from the client side).

:class:`~prefect_defender.emulator.server.EmulatorServer` runs it (see docs/emulator.md).
"""
