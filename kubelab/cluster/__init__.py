"""Cluster providers behind one contract: kind, existing, local."""
