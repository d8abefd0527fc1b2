"""Report builder: tables, plots, qualitative grid and provenance for one experiment."""
