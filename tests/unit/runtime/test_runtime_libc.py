"""The runtime's ``_ctypes``-level libc access (``berth.runtime.linux.libc``) against the real libc."""

from __future__ import annotations

import errno

from berth.runtime.linux import libc

_PR_GET_NAME = 16
_PR_CAPBSET_READ = 23


def test_buffer_holds_all_of_the_data_and_is_zero_filled() -> None:
    buf = libc.buffer(b"a\0b", 6)
    assert buf.raw == b"a\0b\0\0\0"
    assert libc.addressof(buf) != 0


def test_a_call_writes_into_a_buffer() -> None:
    buf = libc.buffer(b"", 16)
    assert libc.function("prctl")(_PR_GET_NAME, buf, libc.c_ulong(0), libc.c_ulong(0), libc.c_ulong(0)) == 0
    assert buf.raw.rstrip(b"\0")  # the thread's name, never empty


def test_unsigned_long_arguments_and_int_results() -> None:
    # Capability 0 (CAP_CHOWN) is in the bounding set of these root test runs.
    read = libc.function("prctl")
    assert read(_PR_CAPBSET_READ, libc.c_ulong(0), libc.c_ulong(0), libc.c_ulong(0), libc.c_ulong(0)) == 1
    assert (
        read(_PR_CAPBSET_READ, libc.c_ulong(1 << 40), libc.c_ulong(0), libc.c_ulong(0), libc.c_ulong(0)) == -1
    )
    assert libc.get_errno() == errno.EINVAL


def test_errno_of_a_failed_call_is_kept() -> None:
    assert libc.function("umount2")(b"/nonexistent-berth-libc-test", 0) == -1
    assert libc.get_errno() == errno.ENOENT
    assert libc.function("umount2") is libc.function("umount2")


def test_setrlimit_sets_both_limits_and_reports_errors() -> None:
    import resource

    from berth.runtime.linux.syscalls import syscalls

    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        syscalls().setrlimit(resource.RLIMIT_CORE, 0, hard)
        assert resource.getrlimit(resource.RLIMIT_CORE) == (0, hard)
        if hard != resource.RLIM_INFINITY:
            try:
                syscalls().setrlimit(resource.RLIMIT_CORE, hard + 1, hard)
            except OSError as err:
                assert err.errno == errno.EINVAL
            else:
                raise AssertionError("a soft limit above the hard one was accepted")
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def test_readable_within_sees_input_and_hang_up() -> None:
    import os

    from berth.runtime.linux.syscalls import syscalls

    r, w = os.pipe()
    try:
        assert not syscalls().readable_within(r, 0)
        os.write(w, b"x")
        assert syscalls().readable_within(r, 100)
        os.read(r, 1)
        os.close(w)
        w = -1
        assert syscalls().readable_within(r, 100)  # hang-up counts: a read returns end-of-file
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
