"""The web application: the static shell, served by every replica (see site)."""
