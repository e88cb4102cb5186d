from airgap_transfer.cli import entry_point

entry_point()
