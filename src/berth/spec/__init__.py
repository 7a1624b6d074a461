"""The vocabulary of the OCI specs as pure data: parsing and validation, no I/O.

Import the submodules directly (``from berth.spec.digest import Digest``); this package imports
nothing itself so the runtime's start path pays only for what it uses.
"""
