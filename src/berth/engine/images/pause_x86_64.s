# Berth's pause program (x86-64): the infra process of a pod. It holds the pod's namespaces, reaps
# the orphans a shared PID namespace hands it, and exits 0 on SIGINT or SIGTERM. As PID 1 it gets
# only signals it handles or blocks (a blocked signal is queued, never ignored), so it blocks them
# and takes each with rt_sigtimedwait(2): no handler, no stack frame, no libc.
# berth.engine.images.pause holds these instructions' bytes; a unit test reassembles this file with
# GNU as and compares.
    .intel_syntax noprefix
    .globl _start
_start:
    push 0x14002        # the set {SIGINT, SIGTERM, SIGCHLD}: bit (signo - 1)
    mov eax, 14         # rt_sigprocmask(SIG_BLOCK, set, NULL, 8)
    xor edi, edi
    mov rsi, rsp
    xor edx, edx
    mov r10d, 8
    syscall
wait_signal:
    mov eax, 128        # rt_sigtimedwait(set, NULL, NULL, 8): the signal's number
    mov rdi, rsp
    xor esi, esi
    xor edx, edx
    mov r10d, 8
    syscall
    cmp eax, 17         # SIGCHLD
    je reap
    cmp eax, 2          # SIGINT
    je done
    cmp eax, 15         # SIGTERM
    je done
    jmp wait_signal     # -EINTR: wait again
reap:
    mov eax, 61         # wait4(-1, NULL, WNOHANG, NULL) until no child is left to reap
    mov edi, -1
    xor esi, esi
    mov edx, 1
    xor r10d, r10d
    syscall
    test eax, eax
    jg reap
    jmp wait_signal
done:
    mov eax, 231        # exit_group(0)
    xor edi, edi
    syscall
