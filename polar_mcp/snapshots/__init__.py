"""Read-only SQL over snapshots of Polar's exports: the statement's walls (`sql.py`) and the snapshots
themselves, kept a while and shared (`store.py`)."""
