"""One module per ``berth-runtime`` command (``create.py``, ``start.py``, ``kill.py``...)."""
