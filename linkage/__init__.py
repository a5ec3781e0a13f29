"""vn-linkage: record linkage for Vietnamese person records."""

__version__ = "0.1.0"
