"""Inside the sealed worker: run student definitions and serve probes (imports torch)."""
