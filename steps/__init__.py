"""Step definitions: one call into kubelab and at most one assert each."""
