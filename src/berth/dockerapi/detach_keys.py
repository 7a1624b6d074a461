"""The detach sequence of an attach: keys a client types to leave a container running.

Docker's form (``docker attach --detach-keys``, the API's ``detachKeys``): keys separated by
commas, each ``ctrl-X`` (X one of ``a``-``z``, ``@``, ``[``, ``\\``, ``]``, ``^``, ``_``) or a single
character; the default is ``ctrl-p,ctrl-q``. Input that starts the sequence is held back until it
either completes it (the client detaches; the held keys are dropped) or breaks off (they are sent).

    keys = DetachKeys.parse("ctrl-p,ctrl-q")
    keys.feed(b"ab\\x10")   # (b"ab", False): the ctrl-p is held
    keys.feed(b"\\x11")     # (b"", True): detached
"""

from __future__ import annotations

from berth.dockerapi.errors import ApiError

DEFAULT = "ctrl-p,ctrl-q"
#: The characters after ``ctrl-`` besides letters, and their control codes (ASCII 0 and 27-31).
_CTRL_SYMBOLS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


class DetachKeys:
    """A detach sequence and how much of it the input has matched so far."""

    def __init__(self, sequence: bytes) -> None:
        self.sequence = sequence
        self.matched = 0

    @classmethod
    def parse(cls, text: str) -> DetachKeys:
        """The sequence ``text`` names; a 400 naming it when a key is not one."""
        codes = []
        for key in text.split(","):
            lowered = key.lower()
            if lowered.startswith("ctrl-") and len(key) == 6:
                char = lowered[5]
                if "a" <= char <= "z":
                    codes.append(ord(char) - ord("a") + 1)
                    continue
                if char in _CTRL_SYMBOLS:
                    codes.append(_CTRL_SYMBOLS[char])
                    continue
            elif len(key) == 1:
                codes.append(ord(key))
                continue
            raise ApiError(400, f"Invalid detach keys ({text}) provided: {key!r} is not a key")
        return cls(bytes(codes))

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The part of ``data`` to pass on, and whether the sequence is now complete."""
        out = bytearray()
        for byte in data:
            if byte == self.sequence[self.matched]:
                self.matched += 1
                if self.matched == len(self.sequence):
                    return bytes(out), True
                continue
            out += self.sequence[: self.matched]  # a broken-off start was input after all
            self.matched = 0
            if byte == self.sequence[0]:
                self.matched = 1
            else:
                out.append(byte)
        return bytes(out), False
