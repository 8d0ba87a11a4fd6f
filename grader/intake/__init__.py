"""Step 1 of the data path: a submission read, parsed and classified (the notebook's definitions, its
training loops, the names it was given, which assignment it is for)."""
