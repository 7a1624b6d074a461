"""Policy as code: rules written in Rego over an image's input document.

``rego`` evaluates rule sets (directories of ``.rego`` files; ``deny`` sets of messages per
package), ``document`` and ``files`` make the input document in one read of the layers, ``check``
puts them together for ``berth policy check``, ``builtin/cis`` is the CIS Docker Benchmark's image
checks, and ``admission`` judges a container before the engine records it.
"""
