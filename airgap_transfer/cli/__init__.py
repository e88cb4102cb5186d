"""The command line: thin click commands that build a config, call the engine and render its events."""

from airgap_transfer.cli.app import entry_point, main

__all__ = ["entry_point", "main"]
