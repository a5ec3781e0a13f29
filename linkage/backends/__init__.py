"""Engines that run the same rules, kernels and model somewhere other than the default DuckDB
workspace on one machine (DESIGN.md, "Layout"). Today: `spark` (past one machine)."""
