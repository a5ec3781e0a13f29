"""Persistent state for nightly runs: the prepared registers and wanted list, a fingerprint per
source record, the rules' hash, the model, and the candidate set with its history.

store.py opens and locks the workspace; fingerprint.py hashes records; delta.py finds what
changed; nightly.py is the night's flow; outputs.py writes a night's folder; cli.py the command."""
