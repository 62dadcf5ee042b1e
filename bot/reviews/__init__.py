"""Reviews: inactivity, members exports, sweeps and access reviews."""
