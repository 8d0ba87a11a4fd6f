"""What the sandbox of a proj5b probe may import: the notebook-facing stand-ins, the accepted interfaces and
the instruments the probes call (the harness).

Everything in this folder, and nothing else of the assignment, is copied into the sealed worker.
"""
