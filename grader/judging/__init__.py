"""Step 4 of the data path, engine side: the checks run with pytest against a submission's probes,
the reference they compare with, the catalogue of known mistakes and the search of single edits."""
