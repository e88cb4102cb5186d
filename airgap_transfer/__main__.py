from airgap_transfer.cli.app import entry_point

entry_point()
