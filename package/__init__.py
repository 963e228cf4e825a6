"""prefect-defender: Prefect 3 integration for Microsoft Defender.

The top-level folders of the repository (``api``, ``blocks``, ``tasks``, ``flows``,
``deployments``, ``emulator``, ``cli``) are the subpackages of this package.
"""

__version__ = "0.1.0"
