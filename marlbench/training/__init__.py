"""Running training: one run (runner), many runs (parallel), presets' sweeps (sweep), progress."""
