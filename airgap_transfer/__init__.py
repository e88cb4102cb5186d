"""airgap-transfer: carry large bundles across an air gap on removable drives."""

__version__ = "0.1.0"
