"""What the sandbox of a proj5a probe may import: the notebook-facing stand-ins and the accepted interfaces.

Everything in this folder, and nothing else of the assignment, is copied into the sealed worker.
"""
