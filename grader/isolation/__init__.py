"""Start workers and seal them: fork server, cgroup, namespaces, allowlisted root."""
