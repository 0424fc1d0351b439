"""creditflow recognition: Case-by-case recognition decisions between institutions (Lisbon Recognition Convention)."""
