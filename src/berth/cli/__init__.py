"""The ``berth`` command line: parse, call the engine, format. No logic lives here."""
