"""Outside the core: the importer for the original manuscript."""
